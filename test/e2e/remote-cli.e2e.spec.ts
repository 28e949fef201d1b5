import { execFile } from 'node:child_process';
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import * as tar from 'tar-stream';
import { modelCategoryDetail, scoringStatus, trainingRunList, trainingStatus } from '@padim-fleet/contracts';
import { generateSyntheticDataset, listImagesRecursive } from '@padim-fleet/inference';
import { setUpFleetE2e, tearDownFleetE2e, type FleetE2e } from '../support/fleet-e2e';
import { FleetProcess, REPO_ROOT } from '../support/fleet-processes';
import { describeWithRedis, describeWithS3, redisTestUrl } from '../support/services';

const API_KEY = 'e2e-remote-cli-Tq7mW2xK9pL4vN8rJ5hS';
const CLI_MAIN = path.join(REPO_ROOT, 'apps/cli/dist/main.js');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describeWithRedis('padim remote end to end: the built CLI against a real API and workers', () => {
  describeWithS3('with S3', () => {
    let setup: FleetE2e;
    let api: FleetProcess;
    let worker: FleetProcess;
    let data: string;
    let cliEnv: Record<string, string>;

    /** Runs `padim remote ...` as a child process (stdout and stderr are pipes: no terminal, so no progress bar). */
    function remote(...args: string[]): Promise<CliResult> {
      return new Promise((resolve) => {
        execFile(
          process.execPath,
          [CLI_MAIN, 'remote', ...args],
          { env: { ...process.env, ...cliEnv }, cwd: setup.scratch, timeout: 300_000, maxBuffer: 16 * 2 ** 20 },
          (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    }

    async function ok(...args: string[]): Promise<CliResult> {
      const result = await remote(...args);
      if (result.code !== 0) throw new Error(`padim remote ${args.join(' ')} exited ${result.code}:\n${result.stderr}\n${api.tail(10)}\n${worker.tail(10)}`);
      return result;
    }

    async function tarEntries(file: string): Promise<string[]> {
      const names: string[] = [];
      const extract = tar.extract();
      extract.on('entry', (header, stream, next) => {
        names.push(header.name);
        stream.on('end', next).resume();
      });
      await new Promise<void>((resolve, reject) => {
        extract.on('finish', resolve).on('error', reject);
        createReadStream(file).pipe(extract);
      });
      return names;
    }

    beforeAll(async () => {
      setup = await setUpFleetE2e({
        redisUrl: redisTestUrl(),
        apiKey: API_KEY,
        scratchPrefix: 'padim-e2e-remote-',
        extra: (scratch) => ({ PADIM_DATASET_ROOTS: scratch, WORKER_ROLES: 'extract,reduce,score' }),
      });
      data = path.join(setup.scratch, 'weave');
      await generateSyntheticDataset(data, { size: 96, train: 16, testGood: 2, testPerDefect: 1 });
      // The batch scoring's input: a prefix of the test's own bucket.
      for (const file of await listImagesRecursive(path.join(data, 'test'))) {
        await setup.store.put(`batch/${path.relative(path.join(data, 'test'), file)}`, await fs.readFile(file));
      }
      api = await FleetProcess.startApi(setup.env);
      worker = await FleetProcess.startWorker('worker-1', setup.env);
      cliEnv = { PADIM_API_URL: `http://127.0.0.1:${setup.port}`, PADIM_API_KEY: API_KEY };
    }, 300_000);

    afterAll(() => tearDownFleetE2e(setup, [api, worker]), 120_000);

    let firstVersion: string;
    let secondVersion: string;

    it('trains and waits, one line per state change, then lists the run and the model', async () => {
      const trained = await ok('train', '--category', 'weave', '--dataset', path.join(data, 'train/good'), '--size', '64', '--shards', '2', '--d', '50');
      const planned = /^run [0-9a-f-]{36}: weave\/\S+, (\d+) images in 2 shard\(s\), (\d+) held out\n/.exec(trained.stderr);
      expect(planned).not.toBeNull();
      expect(Number(planned![1]) + Number(planned![2])).toBe(16);
      expect(trained.stderr).toMatch(/: completed\n/);
      // Not a terminal: no bar redrawn with carriage returns.
      expect(trained.stderr).not.toContain('\r');
      const done = /^run ([0-9a-f-]{36}) completed: weave\/(\S+), \d+ images in [\d.]+ s, now current\n$/.exec(trained.stdout);
      expect(done).not.toBeNull();
      firstVersion = done![2];

      const runs = await ok('runs');
      expect(runs.stdout).toMatch(/^RUN +CATEGORY +VERSION +STATE +CREATED/);
      expect(runs.stdout).toContain(`${done![1]}  weave     ${firstVersion}  completed`);
      const json = trainingRunList.parse(JSON.parse((await ok('runs', '--json')).stdout));
      expect(json[0]).toMatchObject({ runId: done![1], category: 'weave', version: firstVersion, state: 'completed' });
      const one = trainingStatus.parse(JSON.parse((await ok('runs', '--id', done![1], '--json')).stdout));
      expect(one.result).toMatchObject({ category: 'weave', version: firstVersion, current: true });

      const models = await ok('models');
      expect(models.stdout).toMatch(new RegExp(`^CATEGORY +CURRENT +VERSIONS\\nweave +${firstVersion} +1\\n$`));
    }, 300_000);

    it('--detach prints the run id and returns; promote makes a version current', async () => {
      const detached = await ok(
        'train',
        '--category',
        'weave',
        '--dataset',
        path.join(data, 'train/good'),
        '--size',
        '64',
        '--d',
        '50',
        '--promote',
        'false',
        '--detach',
      );
      const runId = detached.stdout.trim();
      expect(runId).toMatch(/^[0-9a-f-]{36}$/);
      // The run goes on without the CLI: wait for it through `runs --id`.
      const deadline = Date.now() + 240_000;
      let status = trainingStatus.parse(JSON.parse((await ok('runs', '--id', runId, '--json')).stdout));
      while (status.state !== 'completed' && status.state !== 'failed' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 1000));
        status = trainingStatus.parse(JSON.parse((await ok('runs', '--id', runId, '--json')).stdout));
      }
      expect(status.state).toBe('completed');
      secondVersion = status.version;

      const before = modelCategoryDetail.parse(JSON.parse((await ok('models', 'weave', '--json')).stdout));
      expect(before.current).toBe(firstVersion);
      expect((await ok('promote', 'weave', secondVersion)).stdout).toBe(`weave: current version is now ${secondVersion}\n`);
      const table = (await ok('models', 'weave')).stdout;
      expect(table).toMatch(new RegExp(`^weave: current ${secondVersion}\\n`));
      expect(table).toMatch(new RegExp(`\\n\\* +${secondVersion} `));
      expect(table).toMatch(new RegExp(`\\n +${firstVersion} `));
    }, 300_000);

    it('scores images online, writing the heatmaps with --out', async () => {
      const good = path.join(data, 'test/good/000.png');
      const defect = path.join(setup.scratch, 'scratch-000.png');
      await fs.copyFile(path.join(data, 'test/scratch/000.png'), defect);
      const out = path.join(setup.scratch, 'heatmaps');
      const scored = await ok('score', 'weave', good, defect, '--out', out);
      expect(scored.stdout).toMatch(new RegExp(`^model weave/${secondVersion}\\nIMAGE +SCORE +NORMALIZED +LABEL`));
      expect(scored.stdout).toMatch(/\n000\.png +\d+\.\d{3} +\d\.\d{3} +(normal|anomalous)\n/);
      expect(scored.stdout).toMatch(/\nscratch-000\.png +\d+\.\d{3} +\d\.\d{3} +(normal|anomalous)\n$/);
      const written = (await fs.readdir(out)).sort();
      expect(written).toEqual(['000.heatmap.png', '000.mask.png', 'scratch-000.heatmap.png', 'scratch-000.mask.png']);
      expect((await fs.readFile(path.join(out, '000.heatmap.png'))).subarray(1, 4).toString()).toBe('PNG');
    }, 120_000);

    it('runs a batch scoring, lists it and downloads its results', async () => {
      const batch = await ok('score-batch', 'weave', `s3://${setup.bucket}/batch/`, '--chunk-size', '2');
      const scoringId = batch.stdout.trim();
      expect(scoringId).toMatch(/^[0-9a-f-]{36}$/);
      expect(batch.stderr).toMatch(/: completed 5\/5 images\n/);
      expect((await ok('scorings')).stdout).toMatch(new RegExp(`\\n${scoringId} +weave +\\S+ +completed +5/5`));
      const one = scoringStatus.parse(JSON.parse((await ok('scorings', '--id', scoringId, '--json')).stdout));
      expect(one.summary).toMatchObject({ images: 5, scored: 5, failed: 0 });
      const csv = path.join(setup.scratch, 'results.csv');
      await ok('scorings', '--id', scoringId, '--results', csv);
      const lines = (await fs.readFile(csv, 'utf8')).trim().split('\n');
      expect(lines[0]).toMatch(/^file,/);
      expect(lines).toHaveLength(6);
      const jsonl = path.join(setup.scratch, 'results.jsonl');
      await ok('scorings', '--id', scoringId, '--results', jsonl);
      const files = (await fs.readFile(jsonl, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { file: string }).file);
      expect(files.sort()).toEqual(['good/000.png', 'good/001.png', 'hole/000.png', 'scratch/000.png', 'stain/000.png']);
    }, 300_000);

    it('downloads a version as a tar that holds its manifest', async () => {
      const file = path.join(setup.scratch, 'weave.tar');
      expect((await ok('download', 'weave', firstVersion, '--out', file)).stdout).toMatch(/^wrote .*weave\.tar \(\d+\.\d MiB\)\n$/);
      expect(await tarEntries(file)).toEqual(expect.arrayContaining(['padim-model.json', 'manifest.json']));
    }, 120_000);

    it('fails with the API’s message and a non-zero exit on an unknown category, and names a missing setting', async () => {
      const unknown = await remote('models', 'nope');
      expect(unknown).toMatchObject({ code: 1, stdout: '' });
      expect(unknown.stderr).toBe('padim remote: GET /v1/models/nope: 404 no models for category nope\n');
      const score = await remote('score', 'nope', path.join(data, 'test/good/000.png'));
      expect(score.code).toBe(1);
      expect(score.stderr).toMatch(/^padim remote: POST \/v1\/models\/nope\/score: 404 .*nope/);
      const badTrain = await remote('train', '--category', 'weave', '--dataset', '/etc');
      expect(badTrain.code).toBe(1);
      expect(badTrain.stderr).toMatch(/^padim remote: POST \/v1\/trainings: 400 .*not under an allowed dataset root/);
      const wrongKey = await remote('models', '--api-key', 'not-the-key');
      expect(wrongKey).toMatchObject({ code: 1, stderr: 'padim remote: GET /v1/models: 401 invalid API key\n' });
      cliEnv = { PADIM_API_URL: '' };
      const noUrl = await remote('runs');
      expect(noUrl.code).toBe(2);
      expect(noUrl.stderr).toMatch(/no API URL: set PADIM_API_URL \(or --api-url\)/);
    }, 120_000);
  });
});
