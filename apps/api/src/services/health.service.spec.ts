import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Redis } from 'ioredis';
import { LocalBlobStore } from '@padim-fleet/storage';
import { HealthService } from './health.service';

/** Answers PING and CONFIG GET maxmemory-policy as a Redis would, or fails both when down. */
class FakeRedis {
  down = false;
  policy = 'noeviction';
  async ping() {
    if (this.down) throw new Error('Connection is closed.');
    return 'PONG';
  }
  async call() {
    if (this.down) throw new Error('Connection is closed.');
    return ['maxmemory-policy', this.policy];
  }
}

let root: string;
let redis: FakeRedis;
let service: HealthService;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'health-service-'));
  redis = new FakeRedis();
  service = new HealthService(redis as unknown as Redis, new LocalBlobStore(root));
});
afterEach(() => fs.rm(root, { recursive: true, force: true }));

describe('HealthService.report', () => {
  it('is ready when Redis answers without evicting and the store answers', async () => {
    expect(await service.report()).toMatchObject({ status: 'ready', redis: 'ok', evictionPolicy: 'noeviction', store: expect.stringMatching(/^ok /) });
  });

  it('is not ready while Redis is down, saying why', async () => {
    redis.down = true;
    expect(await service.report()).toMatchObject({ status: 'not ready', redis: 'unavailable: Connection is closed.' });
  });

  it('is not ready when Redis may evict keys', async () => {
    redis.policy = 'allkeys-lru';
    const report = await service.report();
    expect(report.status).toBe('not ready');
    expect(report.evictionPolicy).toMatch(/maxmemory-policy is allkeys-lru/);
  });
});
