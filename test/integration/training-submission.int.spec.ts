/**
 * Submitting runs when Redis fails part-way: a batch is queued whole or not at all, and a run whose
 * queueing failed leaves no plan.json. Redis is the real server, reached through a proxy that the test
 * cuts when the client starts sending a given run's jobs, as a network that fails mid-request would.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import IORedis, { type Redis } from 'ioredis';
import { FleetConfig, QueueName, loadFleetConfig, trainingRequest } from '@padim-fleet/contracts';
import { TrainingRuns, createRedis, planTraining } from '@padim-fleet/fleet';
import { generateSyntheticDataset } from '@padim-fleet/inference';
import { LocalBlobStore, ModelRegistry } from '@padim-fleet/storage';
import { TrainingsService } from '../../apps/api/src/services/trainings.service';
import { describeWithRedis, redisTestUrl, testName } from '../support/services';

/**
 * A TCP proxy to Redis. Once `cutAt` is set and the client sends those bytes, only what came before
 * them reaches Redis and the connection drops; later connections are refused the same way.
 */
class CuttableRedisProxy {
  cutAt: Buffer | null = null;
  private cut = false;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<CuttableRedisProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new CuttableRedisProxy(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (client) => proxy.relay(client, target));
    return proxy;
  }

  private relay(client: net.Socket, target: { host: string; port: number }): void {
    if (this.cut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    upstream.pipe(client);
    let tail = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      if (this.cut) return;
      const at = this.cutAt ? Buffer.concat([tail, chunk]).indexOf(this.cutAt) : -1;
      if (at < 0) {
        upstream.write(chunk);
        tail = chunk.subarray(Math.max(0, chunk.length - 256));
        return;
      }
      this.cut = true;
      upstream.end(chunk.subarray(0, Math.max(0, at - tail.length)));
      client.destroy();
    });
    client.on('close', () => upstream.end());
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describeWithRedis('submitting training runs when Redis fails part-way (real Redis through a proxy, local store)', () => {
  let dir: string;
  let dataset: string;
  let config: FleetConfig;
  let store: LocalBlobStore;
  let proxy: CuttableRedisProxy;
  let connection: Redis;
  let runs: TrainingRuns;
  const redis = createRedis(redisTestUrl(), 'padim-test');

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'padim-submit-'));
    dataset = path.join(dir, 'data');
    await generateSyntheticDataset(dataset, { size: 64, train: 6, testGood: 1, testPerDefect: 1 });
  });

  afterAll(async () => {
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    const target = new URL(redisTestUrl());
    proxy = await CuttableRedisProxy.start({ host: target.hostname, port: Number(target.port || 6379) });
    config = loadFleetConfig({ REDIS_URL: redisTestUrl(), PADIM_QUEUE_PREFIX: testName(), PADIM_STORE: path.join(dir, testName()), PADIM_DATASET_ROOTS: dir });
    store = new LocalBlobStore(config.PADIM_STORE);
    // A connection that fails its commands once cut, instead of waiting for Redis to come back.
    connection = new IORedis({
      host: '127.0.0.1',
      port: proxy.port,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    await connection.connect();
    runs = new TrainingRuns(connection, config.PADIM_QUEUE_PREFIX, store, { attempts: 1, backoffMs: 100 });
  });

  afterEach(async () => {
    await runs.close().catch(() => undefined);
    connection.disconnect();
    await proxy.close();
    const keys = await redis.keys(`${config.PADIM_QUEUE_PREFIX}:*`);
    if (keys.length > 0) await redis.del(...keys);
  });

  /** Jobs of the test's queues in any state, read over a connection that works. */
  async function queuedJobs(): Promise<number> {
    let count = 0;
    for (const name of [QueueName.Extract, QueueName.Reduce]) {
      const queue = new Queue(name, { connection: redis, prefix: config.PADIM_QUEUE_PREFIX });
      count += Object.values(await queue.getJobCounts()).reduce((a, b) => a + b, 0);
      await queue.close();
    }
    return count;
  }

  async function storeKeys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const info of store.list('')) keys.push(info.key);
    return keys;
  }

  const request = (category: string) => trainingRequest.parse({ category, dataset: path.join(dataset, 'train/good'), size: 64, shards: 1 });

  it('a batch whose connection drops while its third run is being queued queues none of its runs and keeps no plan', async () => {
    const service = new TrainingsService(config, store, runs, new ModelRegistry(store));
    proxy.cutAt = Buffer.from('batch-run-2');
    const categories = ['batch-run-0', 'batch-run-1', 'batch-run-2', 'batch-run-3'];
    await expect(service.submitBatch(categories.map(request))).rejects.toThrow();
    expect(await queuedJobs()).toBe(0);
    expect(await storeKeys()).toEqual([]);
  });

  it('a run whose queueing fails leaves no plan.json', async () => {
    const plan = await planTraining(request('single-run'), {
      runId: crypto.randomUUID(),
      createdAt: new Date(),
      datasetRoots: [dir],
      s3: { region: 'us-east-1', forcePathStyle: true },
    });
    proxy.cutAt = Buffer.from('single-run');
    await expect(runs.submit(plan)).rejects.toThrow();
    expect(await queuedJobs()).toBe(0);
    expect(await storeKeys()).toEqual([]);
  });

  it('queues a whole batch when Redis stays up', async () => {
    const service = new TrainingsService(config, store, runs, new ModelRegistry(store));
    const submitted = await service.submitBatch(['whole-0', 'whole-1', 'whole-2'].map(request));
    const statuses = await Promise.all(submitted.map((s) => runs.status(s.runId)));
    expect(statuses.map((s) => [s?.category, s?.state])).toEqual([
      ['whole-0', 'queued'],
      ['whole-1', 'queued'],
      ['whole-2', 'queued'],
    ]);
    expect(await queuedJobs()).toBe(6);
    expect((await storeKeys()).sort()).toEqual(submitted.map((s) => `runs/${s.runId}/plan.json`).sort());
  });
});
