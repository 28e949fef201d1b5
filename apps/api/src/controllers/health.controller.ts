import { Controller, Get, Inject, ServiceUnavailableException } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Redis } from 'ioredis';
import type { BlobStore } from '@padim-fleet/storage';
import { Public } from '../common/api-key.guard';
import { BLOB_STORE, REDIS } from '../common/tokens';

const PROBE_TIMEOUT_MS = 2000;

@ApiTags('health')
@Controller()
export class HealthController {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
  ) {}

  @Public()
  @Get('healthz')
  health() {
    return { status: 'ok' };
  }

  /** Ready when Redis and the object store both answer. */
  @Public()
  @Get('readyz')
  async ready() {
    const [redis, store] = await Promise.all([probe(() => this.redis.ping()), probe(() => this.store.ping())]);
    const body = { status: redis === 'ok' && store === 'ok' ? 'ready' : 'not ready', redis, store: `${store} (${this.store.location})` };
    if (body.status !== 'ready') throw new ServiceUnavailableException(body);
    return body;
  }
}

async function probe(check: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([check(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS)))]);
    return 'ok';
  } catch (error) {
    return `unavailable: ${(error as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}
