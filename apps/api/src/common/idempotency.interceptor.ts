import {
  BadRequestException,
  CallHandler,
  ConflictException,
  ExecutionContext,
  Inject,
  Injectable,
  Logger,
  NestInterceptor,
  UnprocessableEntityException,
  UseInterceptors,
  applyDecorators,
} from '@nestjs/common';
import { ApiHeader } from '@nestjs/swagger';
import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Redis } from 'ioredis';
import { Observable, catchError, from, mergeMap, of } from 'rxjs';
import { FleetConfig } from '@padim-fleet/contracts';
import { FLEET_CONFIG, REDIS } from './tokens';

export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** A request still being handled holds its key this long at most (a crashed API must not hold it for the whole TTL). */
const PENDING_TTL_SECONDS = 15 * 60;
const keyPattern = /^[\x21-\x7e]{1,255}$/;

interface IdempotencyRecord {
  state: 'pending' | 'done';
  /** Hash of the request the key was first used with. */
  request: string;
  status?: number;
  body?: unknown;
}

/**
 * `Idempotency-Key` on a POST that creates something: the first answer (2xx) is kept in Redis for
 * IDEMPOTENCY_TTL_HOURS and a retry with the same key (same caller, route and request) gets it back
 * instead of creating a second one. The key is reserved before the work starts, so two concurrent
 * requests with one key do the work once (the second gets 409); a request that fails frees its key.
 */
@Injectable()
export class IdempotencyInterceptor implements NestInterceptor {
  private readonly logger = new Logger('api');

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(FLEET_CONFIG) private readonly config: FleetConfig,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const req = context.switchToHttp().getRequest<Request>();
    const res = context.switchToHttp().getResponse<Response>();
    const given = req.headers[IDEMPOTENCY_HEADER];
    if (given === undefined) return next.handle();
    if (typeof given !== 'string' || !keyPattern.test(given)) throw new BadRequestException('Idempotency-Key header: must be 1-255 visible ASCII characters');
    // Scoped by caller and route: one client's key never answers another's request.
    const scope = sha256([req.headers.authorization ?? '', req.method, req.path, given].join('\n'));
    const redisKey = `${this.config.PADIM_QUEUE_PREFIX}:idempotency:${scope}`;
    // Upload routes stream their multipart body in the handler, so for them the key alone names the request.
    const request = sha256(JSON.stringify({ body: req.body ?? null }));

    const pending: IdempotencyRecord = { state: 'pending', request };
    if ((await this.redis.set(redisKey, JSON.stringify(pending), 'EX', PENDING_TTL_SECONDS, 'NX')) !== 'OK') {
      const stored = await this.redis.get(redisKey);
      const record = stored ? (JSON.parse(stored) as IdempotencyRecord) : null;
      if (!record || record.state === 'pending')
        throw new ConflictException('Idempotency-Key header: a request with this key is still being handled; retry later');
      if (record.request !== request) throw new UnprocessableEntityException('Idempotency-Key header: already used with a different request');
      res.status(record.status ?? 200);
      res.setHeader('Idempotent-Replayed', 'true');
      return of(record.body);
    }
    const ttlSeconds = this.config.IDEMPOTENCY_TTL_HOURS * 3600;
    return next.handle().pipe(
      // The work failed: nothing was created, so a retry may do it.
      catchError((error: unknown) =>
        from(
          this.redis.del(redisKey).then(
            () => Promise.reject(error),
            () => Promise.reject(error),
          ),
        ),
      ),
      mergeMap((body) => {
        const done: IdempotencyRecord = { state: 'done', request, status: res.statusCode, body };
        // The work is done and must be acknowledged even if the answer cannot be kept: a retry then finds
        // the key pending (409) until it expires, rather than creating again.
        return from(
          this.redis.set(redisKey, JSON.stringify(done), 'EX', ttlSeconds).then(
            () => body,
            (error: Error) => {
              this.logger.error(`idempotency: could not keep the answer for a key: ${error.message}`);
              return body;
            },
          ),
        );
      }),
    );
  }
}

/** Marks a POST that creates something as accepting `Idempotency-Key` (place it above the route's other interceptors). */
export const Idempotent = () =>
  applyDecorators(
    ApiHeader({ name: 'Idempotency-Key', required: false, description: `A retry with the same key gets the first answer back instead of creating again` }),
    UseInterceptors(IdempotencyInterceptor),
  );

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
