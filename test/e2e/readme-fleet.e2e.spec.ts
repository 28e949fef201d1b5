import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { describeWithShared } from '../../libs/inference/src/testing/shared-data';
import { setUpFleetE2e, tearDownFleetE2e, type FleetE2e } from '../support/fleet-e2e';
import { API_MAIN, REPO_ROOT, WORKER_MAIN, sleep } from '../support/fleet-processes';
import { describeWithRedis, describeWithS3, redisTestUrl } from '../support/services';

/** The whole script's time limit: a screw run of 4 shards and a batch of 24 images on a busy 2-core machine. */
const SCRIPT_TIMEOUT_MS = 12 * 60_000;

/** The README sections whose ```bash blocks this test runs, in this order, as one script. */
const SECTIONS = ['The training fleet', 'The scoring pool'];

/** The ```bash blocks under each `## <title>` heading (up to the next `## `) whose title starts with one of `sections`. */
function bashBlocksOf(markdown: string, sections: string[]): { section: string; code: string }[] {
  const blocks: { section: string; code: string }[] = [];
  for (const part of markdown.split(/^## /m).slice(1)) {
    const title = part.slice(0, part.indexOf('\n'));
    const section = sections.find((s) => title.startsWith(s));
    if (!section) continue;
    for (const match of part.matchAll(/^```bash\n([\s\S]*?)^```$/gm)) blocks.push({ section, code: match[1] });
  }
  return blocks;
}

/**
 * What the test changes in the blocks so that they run beside other tests: its own bucket and port;
 * services it checked itself and a build made before (as every e2e test expects). Each must still
 * match, so a README edit that drops one fails here instead of running against shared state.
 */
function substitutions(setup: FleetE2e): [RegExp, string][] {
  return [
    [/^npm run services\b.*$/m, ': services checked by the test'],
    [/^npm run build\b.*$/m, ': built before the test'],
    [/s3:\/\/models\b/g, `s3://${setup.bucket}`],
    [/localhost:3000\b/g, `localhost:${setup.port}`],
  ];
}

/** Runs `script` with bash in the repository root, in a process group of its own; resolves when bash exits. */
function runScript(script: string, env: Record<string, string>): { done: Promise<{ code: number | null; output: string }>; killGroup: () => Promise<void> } {
  const child = spawn('bash', ['-c', script], { cwd: REPO_ROOT, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  // 'exit', not 'close': the background processes keep bash's stdout open after bash is done.
  const done = new Promise<{ code: number | null; output: string }>((resolve) => child.on('exit', (code) => setTimeout(() => resolve({ code, output }), 500)));
  // The blocks start the API and workers in the background: they live in bash's process group, and
  // outlive bash itself, so the whole group is stopped (SIGTERM, then SIGKILL for what is left).
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
      return true;
    } catch {
      return false; // the group is gone
    }
  };
  const killGroup = async () => {
    if (!signalGroup('SIGTERM')) return;
    for (let i = 0; i < 50 && signalGroup(0 as unknown as NodeJS.Signals); i++) await sleep(200);
    signalGroup('SIGKILL');
  };
  return { done, killGroup };
}

/**
 * The JSON objects printed in `output` (curl's answers). curl adds no newline after a body, and the
 * processes' logs interleave, so objects are found by their balanced braces wherever they start.
 */
function jsonObjects(output: string): Record<string, any>[] {
  const found: Record<string, any>[] = [];
  let i = output.indexOf('{"');
  while (i >= 0) {
    const end = balancedEnd(output, i);
    let parsed: unknown;
    try {
      parsed = end > 0 ? JSON.parse(output.slice(i, end)) : undefined;
    } catch {
      parsed = undefined;
    }
    if (parsed !== undefined) found.push(parsed as Record<string, any>);
    i = output.indexOf('{"', parsed !== undefined ? end : i + 1);
  }
  return found;
}

/** The index after the brace that closes the one at `start`, skipping braces inside strings; -1 if none. */
function balancedEnd(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i + 1;
    else if (c === '\n') return -1; // the API answers compact JSON: a line break means this was no answer
  }
  return -1;
}

describeWithShared("the README's fleet commands, run as written", () => {
  describeWithRedis('with Redis', () => {
    describeWithS3('with S3', () => {
      let setup: FleetE2e;
      let run: ReturnType<typeof runScript> | undefined;
      let result: { code: number | null; output: string };

      beforeAll(async () => {
        // The blocks' `npm run build` is left to the caller, as for every e2e test: without it the API never answers.
        for (const main of [API_MAIN, WORKER_MAIN]) if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first`);
        setup = await setUpFleetE2e({
          redisUrl: redisTestUrl(),
          apiKey: 'unused-the-readme-makes-its-own-key',
          scratchPrefix: 'padim-readme-',
          extra: () => ({}),
        });
        const blocks = bashBlocksOf(readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8'), SECTIONS);
        expect(blocks.map((b) => b.section)).toEqual(expect.arrayContaining(SECTIONS));
        let script = blocks.map((b) => `# --- ${b.section}\n${b.code}`).join('\n');
        for (const [pattern, replacement] of substitutions(setup)) {
          expect(script).toMatch(pattern);
          script = script.replace(pattern, replacement);
        }
        // A queue prefix and port of this test's own, exported before the blocks (which do not set them);
        // the blocks set the store, the keys and the dataset roots themselves.
        const { PADIM_QUEUE_PREFIX, API_PORT, PADIM_THREADS, LOCK_DURATION_MS, STALLED_INTERVAL_MS, AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE } = setup.env;
        run = runScript(`set -e -o pipefail\n${script}`, {
          PADIM_QUEUE_PREFIX,
          API_PORT,
          PADIM_THREADS,
          LOCK_DURATION_MS,
          STALLED_INTERVAL_MS,
          AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE,
          REDIS_URL: redisTestUrl(),
          NO_COLOR: '1',
          // mktemp's files (the batch archive) go to the scratch folder, removed with it.
          TMPDIR: setup.scratch,
        });
        // A block that waits for something that never comes (an API that did not start, a run nobody takes)
        // is stopped here, and the test fails with the output so far.
        const stopAfter = setTimeout(() => void run?.killGroup(), SCRIPT_TIMEOUT_MS);
        result = await run.done;
        clearTimeout(stopAfter);
      }, SCRIPT_TIMEOUT_MS + 60_000);

      afterAll(async () => {
        await run?.killGroup();
        await tearDownFleetE2e(setup, []);
      });

      // curl's own errors first (the processes' logs fill the tail), then the end of the output.
      const failure = () => {
        const lines = result.output.split('\n');
        const curlErrors = [...result.output.matchAll(/curl: \((?!7\))\d+\)[^\n]*/g)].map((m) => m[0]);
        return `the README's commands failed (exit ${result.code}):\n${curlErrors.join('\n')}\nlast output:\n${lines.slice(-40).join('\n')}`;
      };

      it('runs every command of the blocks without an error (curl -f fails on any 4xx or 5xx)', () => {
        if (result.code !== 0) throw new Error(failure());
      });

      it("trains screw through the API to a completed run and a current version with its threshold's false-positive rate", () => {
        const json = jsonObjects(result.output);
        const status = json.find((j) => typeof j.runId === 'string' && 'shards' in j);
        expect(status).toMatchObject({ state: 'completed', category: 'screw', heldOutCount: 32 });
        const models = json.find((j) => j.category === 'screw' && Array.isArray(j.versions));
        expect(models).toBeDefined();
        const current = models!.versions.find((v: { current: boolean }) => v.current);
        expect(current).toMatchObject({ version: status!.version, imageCount: 288, backbone: 'resnet18' });
        expect(current.thresholds).toMatchObject({ rule: 'holdout-fpr', targetFpr: 0.05, sampleCount: 32, falsePositives: { count: 1, of: 32, rate: 1 / 32 } });
      });

      it('scores an image online and a batch archive with the trained model', () => {
        const json = jsonObjects(result.output);
        const online = json.find((j) => Array.isArray(j.results));
        expect(online?.results).toEqual([
          expect.objectContaining({ score: expect.any(Number), label: expect.stringMatching(/^(normal|anomalous)$/), threshold: expect.any(Number) }),
        ]);
        const csv = result.output.split('\n');
        const header = csv.findIndex((l) => l.startsWith('file,score,normalizedScore,label'));
        expect(header).toBeGreaterThanOrEqual(0);
        const rows = csv.slice(header + 1).filter((l) => l.includes('scratch_head/'));
        expect(rows.length).toBeGreaterThan(10);
      });
    });
  });
});
