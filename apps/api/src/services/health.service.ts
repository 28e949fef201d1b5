import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { EvictionPolicy, checkEvictionPolicy, readEvictionPolicy } from '@padim-fleet/fleet';
import type { HealthReport } from '@padim-fleet/contracts';
import type { BlobStore } from '@padim-fleet/storage';
import { BLOB_STORE, REDIS } from '../common/tokens';

const PROBE_TIMEOUT_MS = 2000;

@Injectable()
export class HealthService {
  private readonly logger = new Logger('api');
  private lastProblems = '';

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
  ) {}

  /** Ready when Redis answers and does not evict keys, and the store answers. Changes are logged with their reasons. */
  async report(): Promise<HealthReport> {
    const [redis, policy, store] = await Promise.all([
      probe(() => this.redis.ping()),
      withTimeout(readEvictionPolicy(this.redis)).then(
        (p): EvictionPolicy => p,
        (error: Error): EvictionPolicy => ({ policy: null, ok: true, detail: `unknown (${error.message})` }),
      ),
      probe(() => this.store.ping()),
    ]);
    const ready = redis === 'ok' && policy.ok && store === 'ok';
    const report: HealthReport = { status: ready ? 'ready' : 'not ready', redis, evictionPolicy: policy.detail, store: `${store} (${this.store.location})` };
    const problems = ready
      ? ''
      : [redis !== 'ok' && `redis ${redis}`, !policy.ok && `redis ${policy.detail}`, store !== 'ok' && `store ${report.store}`].filter(Boolean).join('; ');
    if (problems !== this.lastProblems) {
      if (problems) this.logger.error(`not ready: ${problems}`);
      else this.logger.log('ready again');
      this.lastProblems = problems;
    }
    return report;
  }

  /**
   * At start: a Redis that evicts keys stops the API (see checkEvictionPolicy). Redis may be down at
   * start; the check then runs when it connects, and /readyz says not ready until it does. Every later
   * reconnection is checked again, as the server may have been replaced.
   */
  async checkAtStart(waitMs: number): Promise<void> {
    this.redis.on('ready', () => {
      readEvictionPolicy(this.redis).then(
        (p) => !p.ok && this.logger.error(`redis: ${p.detail}`),
        () => undefined,
      );
    });
    if (!(await this.redisReady(waitMs))) {
      this.logger.warn(
        `redis: not reachable within ${waitMs} ms of start; its eviction policy is checked once it connects, and /readyz says not ready until then`,
      );
      return;
    }
    await checkEvictionPolicy(this.redis, (line) => this.logger.warn(line));
  }

  private redisReady(waitMs: number): Promise<boolean> {
    if (this.redis.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        resolve(false);
      }, waitMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.redis.once('ready', onReady);
    });
  }
}

async function withTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function probe(check: () => Promise<unknown>): Promise<string> {
  try {
    await withTimeout(check());
    return 'ok';
  } catch (error) {
    return `unavailable: ${(error as Error).message}`;
  }
}
