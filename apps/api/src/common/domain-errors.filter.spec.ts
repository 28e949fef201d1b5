import { describe, expect, it } from '@jest/globals';
import { BadRequestException, ServiceUnavailableException, type ArgumentsHost } from '@nestjs/common';
import { ModelRegistryBusyError, StoreUnavailableError } from '@padim-fleet/storage';
import { DomainErrorsFilter, RETRY_AFTER_SECONDS } from './domain-errors.filter';

/** What the filter answered: status, headers and body, as Express would send them. */
function answer(error: unknown): { status: number; headers: Record<string, string>; body: unknown } {
  const sent = { status: 0, headers: {} as Record<string, string>, body: undefined as unknown };
  const res = {
    status(code: number) {
      sent.status = code;
      return res;
    },
    set(name: string, value: string) {
      sent.headers[name.toLowerCase()] = value;
      return res;
    },
    json(body: unknown) {
      sent.body = body;
      return res;
    },
  };
  const host = { switchToHttp: () => ({ getResponse: () => res }) } as unknown as ArgumentsHost;
  new DomainErrorsFilter().catch(error, host);
  return sent;
}

describe('DomainErrorsFilter', () => {
  it.each([
    [
      'ioredis giving up on a command (MaxRetriesPerRequestError)',
      Object.assign(new Error('Reached the max retries per request limit (which is 0). Refer to "maxRetriesPerRequest" option for details.'), {
        name: 'MaxRetriesPerRequestError',
      }),
    ],
    ['a closed connection', new Error('Connection is closed.')],
    ['a pipeline cut by a closed connection', Object.assign(new Error('Command aborted due to connection close'), { name: 'AbortError' })],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' })],
  ])('answers Redis being unavailable (%s) 503 with Retry-After', (_case, error) => {
    expect(answer(error)).toEqual({
      status: 503,
      headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
      body: { statusCode: 503, message: 'redis unavailable; retry later' },
    });
  });

  it('gives every other 503 a Retry-After too: the store unreachable, the registry busy, Redis not ready', () => {
    for (const error of [
      new StoreUnavailableError('radosgw: connect ECONNREFUSED'),
      new ModelRegistryBusyError('screw', 10_000),
      new ServiceUnavailableException('redis unavailable (connection reconnecting); retry later'),
    ]) {
      const sent = answer(error);
      expect([sent.status, sent.headers['retry-after']]).toEqual([503, String(RETRY_AFTER_SECONDS)]);
    }
  });

  it('sends no Retry-After with a 400 or a 500', () => {
    expect(answer(new BadRequestException('body: bad'))).toMatchObject({ status: 400, headers: {} });
    const internal = answer(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'));
    expect(internal).toMatchObject({ status: 500, headers: {}, body: { statusCode: 500, message: 'internal error' } });
  });
});
