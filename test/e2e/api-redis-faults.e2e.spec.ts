import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import sharp from 'sharp';
import { publishModel } from '@padim-fleet/fleet';
import { LocalBlobStore, ModelRegistry } from '@padim-fleet/storage';
import { FleetApiClient } from '../support/fleet-api';
import { API_MAIN, FleetProcess, WORKER_MAIN, freePort, pollUntil } from '../support/fleet-processes';
import { PrivateRedis } from '../support/private-redis';
import { testName } from '../support/services';
import { tinyModel } from '../support/tiny-model';

const API_KEY = 'e2e-redis-faults-Vb7nK2qW9xT4mZ8cR5dL';

/**
 * The API against a Redis of its own that the tests kill, restart and reconfigure: eviction policies,
 * a Redis that refuses CONFIG, Redis down during requests and at shutdown. The store is a local folder
 * and no worker runs: the API only plans and queues.
 */
describe('API with a faulty Redis', () => {
  let scratch: string;
  let dataset: string;
  const processes: FleetProcess[] = [];
  const servers: PrivateRedis[] = [];

  beforeAll(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'padim-redis-faults-'));
    dataset = path.join(scratch, 'datasets', 'line');
    mkdirSync(dataset, { recursive: true });
    for (let i = 0; i < 4; i++) {
      await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 10 * i, g: 80, b: 120 } } })
        .png()
        .toFile(path.join(dataset, `${i}.png`));
    }
  });

  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.kill('SIGKILL')));
    await Promise.all(servers.splice(0).map((s) => s.kill()));
  });

  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  async function privateRedis(args: string[] = []): Promise<PrivateRedis> {
    const redis = await PrivateRedis.start(args);
    servers.push(redis);
    return redis;
  }

  async function fleetEnv(redis: PrivateRedis): Promise<Record<string, string>> {
    return {
      REDIS_URL: redis.url,
      PADIM_QUEUE_PREFIX: testName(),
      PADIM_STORE: path.join(scratch, `store-${redis.port}`),
      PADIM_DATASET_ROOTS: path.join(scratch, 'datasets'),
      API_KEYS: API_KEY,
      API_PORT: String(await freePort()),
    };
  }

  async function startApi(env: Record<string, string>): Promise<FleetApiClient> {
    const api = FleetProcess.start('api', API_MAIN, env);
    processes.push(api);
    await api.waitForOutput(/api: listening/);
    return new FleetApiClient(`http://127.0.0.1:${env.API_PORT}`, API_KEY);
  }

  /** The process's exit code, or a failure naming what it printed when it is still running after `ms`. */
  async function exitWithin(process: FleetProcess, ms: number): Promise<number | null> {
    const code = await Promise.race([process.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), ms))]);
    if (code === 'running') throw new Error(`${process.name} still running after ${ms} ms:\n${process.tail()}`);
    return code;
  }

  async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
    const started = Date.now();
    const value = await fn();
    return { value, ms: Date.now() - started };
  }

  it('refuses to start the API and the workers on a Redis that evicts keys', async () => {
    const redis = await privateRedis(['--maxmemory-policy', 'allkeys-lru']);
    const env = await fleetEnv(redis);
    const api = FleetProcess.start('api', API_MAIN, env);
    processes.push(api);
    expect(await exitWithin(api, 20_000)).not.toBe(0);
    expect(api.tail()).toMatch(/maxmemory-policy is allkeys-lru/);
    const worker = FleetProcess.start('worker', WORKER_MAIN, { ...env, WORKER_ROLES: 'score' });
    processes.push(worker);
    expect(await exitWithin(worker, 30_000)).not.toBe(0);
    expect(worker.tail()).toMatch(/maxmemory-policy is allkeys-lru/);
  });

  it('is not ready once Redis evicts keys, and says why only to a caller with a key', async () => {
    const redis = await privateRedis(['--maxmemory-policy', 'noeviction']);
    const client = await startApi(await fleetEnv(redis));
    expect(await client.request('GET', '/readyz', undefined, { auth: false })).toEqual({ status: 200, body: { status: 'ready' } });
    await redis.command('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru');
    expect(await client.request('GET', '/readyz', undefined, { auth: false })).toEqual({ status: 503, body: { status: 'not ready' } });
    expect((await client.request('GET', '/v1/health', undefined, { auth: false })).status).toBe(401);
    const health = await client.request('GET', '/v1/health');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({ status: 'not ready', redis: 'ok', evictionPolicy: expect.stringMatching(/allkeys-lru/) });
    expect(health.body.store).toMatch(/^ok \(/);
  });

  it('starts on a Redis that refuses CONFIG GET, with the policy reported as unknown', async () => {
    const redis = await privateRedis(['--rename-command', 'CONFIG', '']);
    const client = await startApi(await fleetEnv(redis));
    expect(await client.request('GET', '/readyz', undefined, { auth: false })).toEqual({ status: 200, body: { status: 'ready' } });
    const health = await client.request('GET', '/v1/health');
    expect(health.status).toBe(200);
    expect(health.body.evictionPolicy).toMatch(/^unknown/);
  });

  it('answers 503 at once while Redis is down, creates no run it did not acknowledge, and replays a retried POST by its Idempotency-Key', async () => {
    const redis = await privateRedis();
    const env = await fleetEnv(redis);
    const client = await startApi(env);
    const body = { category: 'line', dataset, backbone: 'resnet18', shards: 1 };
    const post = (key: string) =>
      fetch(`${client.baseUrl}/v1/trainings`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
      }).then(async (res) => ({ status: res.status, body: (await res.json()) as any }));

    await redis.kill();
    const down = await timed(() => post('retry-me-1'));
    expect(down.value.status).toBe(503);
    expect(down.ms).toBeLessThan(5000);
    const list = await timed(() => client.request('GET', '/v1/trainings'));
    expect(list.value.status).toBe(503);
    expect(list.ms).toBeLessThan(5000);
    expect((await client.request('GET', '/readyz', undefined, { auth: false })).status).toBe(503);

    await redis.restart();
    await pollUntil(
      () => client.request('GET', '/readyz', undefined, { auth: false }),
      (r) => r.status === 200,
      20_000,
      'the API to be ready again',
    );
    expect((await client.request('GET', '/v1/trainings')).body).toEqual([]);
    expect(existsSync(path.join(env.PADIM_STORE, 'runs'))).toBe(false);

    const first = await post('retry-me-1');
    expect(first.status).toBe(202);
    const retried = await post('retry-me-1');
    expect(retried).toEqual(first);
    const other = await post('another-key');
    expect(other.status).toBe(202);
    expect(other.body.runId).not.toBe(first.body.runId);
    const runs = (await client.request('GET', '/v1/trainings')).body as { runId: string }[];
    expect(runs.map((r) => r.runId).sort()).toEqual([first.body.runId, other.body.runId].sort());
  });

  it('answers 503 to an online scoring when Redis goes down while it waits for a worker, and keeps none of its images', async () => {
    const redis = await privateRedis();
    const env = await fleetEnv(redis);
    const tiny = tinyModel();
    await publishModel(new ModelRegistry(new LocalBlobStore(env.PADIM_STORE)), 'line', 'v1', { ...tiny, manifest: { ...tiny.manifest, category: 'line' } });
    // No worker: the request is queued and waits until Redis goes.
    const client = await startApi({ ...env, SCORE_TIMEOUT_MS: '60000' });
    const form = new FormData();
    form.append('images', new Blob([await sharp(path.join(dataset, '0.png')).png().toBuffer()]), 'part.png');
    const answer = timed(() =>
      fetch(`${client.baseUrl}/v1/models/line/score`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` }, body: form }).then(async (res) => ({
        status: res.status,
        body: (await res.json()) as any,
      })),
    );
    await pollUntil(
      async () => (existsSync(path.join(env.PADIM_STORE, 'uploads')) ? readdirSync(path.join(env.PADIM_STORE, 'uploads')).length : 0),
      (n) => n > 0,
      10_000,
      'the upload to be stored',
    );
    await new Promise((r) => setTimeout(r, 500));
    await redis.kill();
    const { value, ms } = await answer;
    expect(value).toEqual({ status: 503, body: expect.objectContaining({ message: expect.stringMatching(/redis/i) }) });
    expect(ms).toBeLessThan(15_000);
    const uploads = path.join(env.PADIM_STORE, 'uploads');
    expect(existsSync(uploads) ? readdirSync(uploads) : []).toEqual([]);
  });

  it('replays batches by Idempotency-Key, and refuses a key reused with another request', async () => {
    const redis = await privateRedis();
    const client = await startApi(await fleetEnv(redis));
    const post = (route: string, key: string, body: unknown) =>
      fetch(`${client.baseUrl}${route}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
      }).then(async (res) => ({ status: res.status, replayed: res.headers.get('idempotent-replayed'), body: (await res.json()) as any }));
    const batch = {
      runs: [
        { category: 'line-a', dataset, shards: 1 },
        { category: 'line-b', dataset, shards: 1 },
      ],
    };
    const first = await post('/v1/trainings/batch', 'batch-1', batch);
    expect([first.status, first.replayed, first.body.runs]).toEqual([
      202,
      null,
      [expect.objectContaining({ category: 'line-a' }), expect.objectContaining({ category: 'line-b' })],
    ]);
    const again = await post('/v1/trainings/batch', 'batch-1', batch);
    expect(again).toEqual({ ...first, replayed: 'true' });
    expect((await client.request('GET', '/v1/trainings')).body).toHaveLength(2);

    const reused = await post('/v1/trainings/batch', 'batch-1', { runs: [batch.runs[0]] });
    expect([reused.status, reused.body.message]).toEqual([422, expect.stringMatching(/^Idempotency-Key header: already used with a different request/)]);
    // A failed request leaves its key free: the corrected retry goes through.
    const bad = await post('/v1/trainings', 'single-1', { category: 'line', dataset: path.join(scratch, 'nowhere') });
    expect(bad.status).toBe(400);
    expect((await post('/v1/trainings', 'single-1', { category: 'line', dataset, shards: 1 })).status).toBe(202);
    expect((await post('/v1/trainings', 'x'.repeat(300), { category: 'line', dataset })).status).toBe(400);
    expect((await client.request('GET', '/v1/trainings')).body).toHaveLength(3);
  });

  it('shuts down within its grace period on SIGTERM while Redis is down and a request is in flight', async () => {
    const redis = await privateRedis();
    const client = await startApi(await fleetEnv(redis));
    const api = processes[processes.length - 1];
    await redis.kill();
    const inFlight = client.request('GET', '/v1/trainings').catch((error: Error) => ({ status: 0, body: error.message }));
    await new Promise((r) => setTimeout(r, 200));
    api.child.kill('SIGTERM');
    await exitWithin(api, 10_000);
    await inFlight;
  });
});
