import { CanActivate, Inject, Injectable, ServiceUnavailableException } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS } from './tokens';

/**
 * Routes that need Redis answer 503 at once while it is unreachable, instead of starting work (planning,
 * writing a plan to the store) that could not be queued.
 */
@Injectable()
export class RedisReadyGuard implements CanActivate {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  canActivate(): boolean {
    if (this.redis.status !== 'ready') throw new ServiceUnavailableException(`redis unavailable (connection ${this.redis.status}); retry later`);
    return true;
  }
}
