import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { createRedis } from '@padim-fleet/fleet';
import { generateSyntheticDataset } from '@padim-fleet/inference';
import { FleetApiClient } from '../support/fleet-api';
import { API_MAIN, FleetProcess, WORKER_MAIN, freePort, pollUntil } from '../support/fleet-processes';
import { describeWithRedis, redisTestUrl, testName } from '../support/services';

const API_KEY = 'e2e-logs-Tq8vM3xK7pW2nZ5cR9dB4hJ6';
const WRONG_KEY = 'e2e-logs-wrong-key-Lg5sD8fH2jK4';
/** Redis without a password accepts any for the default user: the URL carries one to check that no line shows it. */
const REDIS_PASSWORD = 'redis-logs-pw-Ym7Rt3Xc';

/** A fleet process whose stdout is kept apart, line by line (FleetProcess mixes in stderr). */
interface Logged {
  process: FleetProcess;
  stdout: string[];
}

function startLogged(name: string, main: string, env: Record<string, string>): Logged {
  const process = FleetProcess.start(name, main, env);
  const stdout: string[] = [];
  let partial = '';
  // Attached before any output can arrive: 'data' events come on a later tick than spawn.
  process.child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (partial + chunk.toString('utf8')).split('\n');
    partial = lines.pop()!;
    stdout.push(...lines.filter((l) => l !== ''));
  });
  return { process, stdout };
}

/** Each stdout line as JSON; a line that is not JSON fails the test, naming it. */
function jsonLines(logged: Logged): Record<string, any>[] {
  return logged.stdout.map((line) => {
    try {
      return JSON.parse(line) as Record<string, any>;
    } catch {
      throw new Error(`${logged.process.name} printed a line that is not JSON: ${line}`);
    }
  });
}

/** The API and a worker as processes (stdout a pipe, as under a log collector): JSON lines, ids on job lines, no credential, LOG_LEVEL. */
describeWithRedis('fleet logs: JSON lines from the API and worker processes', () => {
  let scratch: string;
  let dataset: string;
  let env: Record<string, string>;
  let client: FleetApiClient;
  const running: Logged[] = [];

  const start = (name: string, main: string, extra: Record<string, string>) => {
    const logged = startLogged(name, main, { ...env, ...extra });
    running.push(logged);
    return logged;
  };
  /** SIGTERM, and the exit: every line the process wrote is in by then. */
  const stop = async (logged: Logged) => {
    expect(await logged.process.kill('SIGTERM')).toBe(0);
  };
  const waitReady = () =>
    pollUntil(
      () => client.request('GET', '/readyz', undefined, { auth: false }).catch(() => ({ status: 0 })),
      (r) => r.status === 200,
      60_000,
      'the API to be ready',
    );

  beforeAll(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'padim-e2e-logs-'));
    dataset = path.join(scratch, 'data', 'weave');
    await generateSyntheticDataset(dataset, { size: 64, train: 8, testGood: 1, testPerDefect: 1 });
    const port = await freePort();
    env = {
      REDIS_URL: redisTestUrl().replace('redis://', `redis://default:${REDIS_PASSWORD}@`),
      PADIM_QUEUE_PREFIX: testName(),
      PADIM_STORE: path.join(scratch, 'store'),
      PADIM_DATASET_ROOTS: path.join(scratch, 'data'),
      API_KEYS: API_KEY,
      API_PORT: String(port),
      PADIM_THREADS: '1',
      WORKER_ROLES: 'extract,reduce',
    };
    client = new FleetApiClient(`http://127.0.0.1:${port}`, API_KEY);
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((l) => l.process.kill('SIGKILL')));
  });

  afterAll(async () => {
    const redis = createRedis(redisTestUrl(), 'padim-e2e-cleanup');
    for await (const keys of redis.scanStream({ match: `${env.PADIM_QUEUE_PREFIX}:*`, count: 500 }))
      if ((keys as string[]).length > 0) await redis.del(...(keys as string[]));
    await redis.quit();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('with LOG_LEVEL=debug: only JSON lines, requests and job lines with their ids, and no credential', async () => {
    const api = start('api', API_MAIN, { LOG_LEVEL: 'debug' });
    await api.process.waitForOutput(/api: listening/);
    const worker = start('worker', WORKER_MAIN, { LOG_LEVEL: 'debug' });
    await worker.process.waitForOutput(/worker: roles/);

    expect((await client.request('GET', '/v1/trainings', undefined, { auth: false })).status).toBe(401);
    expect((await fetch(`${client.baseUrl}/v1/trainings`, { headers: { authorization: `Bearer ${WRONG_KEY}` } })).status).toBe(401);
    const runId = await client.train({ category: 'weave', dataset: path.join(dataset, 'train', 'good'), backbone: 'resnet18', size: 64, shards: 2 });
    const status = await client.waitForRun(runId, 240_000);
    expect(status.state).toBe('completed');
    const { category, version } = status;
    await stop(worker);
    await stop(api);

    const apiLines = jsonLines(api);
    const workerLines = jsonLines(worker);
    for (const line of [...apiLines, ...workerLines])
      expect(line).toMatchObject({
        level: expect.any(String),
        time: expect.any(String),
        pid: expect.any(Number),
        name: expect.stringMatching(/^(api|worker)$/),
      });
    // Debug lines come through: Nest's start-up lines in the API, each job's start in the worker.
    expect(apiLines.some((l) => l.level === 'debug')).toBe(true);
    expect(workerLines.some((l) => l.level === 'debug')).toBe(true);

    // One line per request: method, route, status and time, none of its headers.
    const requests = apiLines.filter((l) => typeof l.status === 'number');
    expect(requests).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          level: 'info',
          method: 'POST',
          route: '/v1/trainings',
          url: '/v1/trainings',
          status: 202,
          ms: expect.any(Number),
          reqId: expect.any(String),
        }),
        expect.objectContaining({ level: 'info', method: 'GET', route: '/v1/trainings/:id', url: `/v1/trainings/${runId}`, status: 200 }),
        expect.objectContaining({ level: 'warn', method: 'GET', url: '/v1/trainings', status: 401 }),
      ]),
    );
    expect(requests.filter((l) => l.status === 401)).toHaveLength(2);
    for (const line of requests) expect(Object.keys(line)).not.toEqual(expect.arrayContaining(['req', 'res', 'headers']));
    // The API's line about the run it queued.
    expect(apiLines).toContainEqual(expect.objectContaining({ level: 'info', runId, category, version, msg: expect.stringMatching(/queued/) }));

    // Every line about a job carries the job's id and its run's ids: started, completed, and the handlers' own.
    // (The reduce role's hourly clean-up job, which serves no run, runs at start: its lines have a jobId alone.)
    const jobLines = workerLines.filter((l) => l.jobId !== undefined && l.jobName !== 'AbortStaleWrites');
    expect(jobLines.length).toBeGreaterThanOrEqual(6);
    for (const line of jobLines) expect(line).toMatchObject({ runId, category, version, jobId: expect.any(String), jobName: expect.any(String) });
    const completed = jobLines.filter((l) => /completed$/.test(l.msg));
    expect(completed.map((l) => `${l.jobName} ${l.jobId}`).sort()).toEqual([
      `ExtractFeatures ${runId}-shard-0`,
      `ExtractFeatures ${runId}-shard-1`,
      `FitGaussian ${runId}`,
    ]);
    expect(jobLines).toContainEqual(expect.objectContaining({ jobName: 'FitGaussian', msg: `model ${category}/${version} published, now current` }));

    // No line shows the Redis password or a key, on stdout or stderr; the start-up line shows the URL redacted.
    expect(workerLines).toContainEqual(expect.objectContaining({ msg: expect.stringContaining('worker: roles extract, reduce on redis://default:***@') }));
    const everything = [...api.process.output, ...worker.process.output];
    for (const secret of [REDIS_PASSWORD, API_KEY, WRONG_KEY]) expect(everything.filter((l) => l.includes(secret))).toEqual([]);
    expect(everything.filter((l) => /authorization/i.test(l))).toEqual([]);
  }, 300_000);

  it('with LOG_LEVEL=warn: no info or debug line, while requests are served and a training runs', async () => {
    const api = start('api', API_MAIN, { LOG_LEVEL: 'warn' });
    const worker = start('worker', WORKER_MAIN, { LOG_LEVEL: 'warn' });
    // Neither says `api: listening` nor `worker: roles` at this level: the API is awaited through its probe.
    await waitReady();
    const runId = await client.train({ category: 'weave', dataset: path.join(dataset, 'train', 'good'), backbone: 'resnet18', size: 64, shards: 1 });
    expect((await client.waitForRun(runId, 240_000)).state).toBe('completed');
    expect((await client.request('GET', '/v1/trainings/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    await stop(worker);
    await stop(api);

    const lines = [...jsonLines(api), ...jsonLines(worker)];
    expect(lines.filter((l) => !['warn', 'error', 'fatal'].includes(l.level))).toEqual([]);
    // The 404 is a warn line: the API does log at this level.
    expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', method: 'GET', status: 404 }));
  }, 300_000);
});
