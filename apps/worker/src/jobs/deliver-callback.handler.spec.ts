import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { Job, UnrecoverableError } from 'bullmq';
import { CALLBACK_HEADERS, DeliverCallbackJob, FleetConfig, completionEvent, loadFleetConfig, verifyCallbackSignature } from '@padim-fleet/contracts';
import { deliverCallbackHandler } from './deliver-callback.handler';

const SECRET = 'callback-secret-for-unit-tests-0123456789';
const RUN = '5f1c7a2e-0000-4000-8000-000000000001';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A receiver on 127.0.0.1: answers each request with the next status of `answers` (the last one repeats), after `delayMs`. */
let server: http.Server;
let port: number;
let received: Received[] = [];
let answers: { status: number; headers?: Record<string, string>; delayMs?: number }[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const answer = answers.length > 1 ? answers.shift()! : answers[0];
      // Unref'd: an answer still held back when the suite ends does not keep it running.
      setTimeout(() => res.writeHead(answer.status, answer.headers).end('{"ok":true}'), answer.delayMs ?? 0).unref();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  received = [];
  answers = [{ status: 200 }];
});

function configFor(hosts: string, extra: Record<string, string> = {}): FleetConfig {
  return loadFleetConfig({ PADIM_CALLBACK_HOSTS: hosts, PADIM_CALLBACK_SECRET: SECRET, PADIM_CALLBACK_TIMEOUT_MS: '2000', ...extra });
}

function jobOf(url: string, attemptsMade = 0): Job {
  const data: DeliverCallbackJob = {
    url,
    event: {
      event: 'training.succeeded',
      deliveryId: `training-${RUN}`,
      id: RUN,
      category: 'screw',
      version: '20260101T000000Z-5f1c7a2e',
      state: 'completed',
      imageCount: 12,
      current: true,
      status: `/v1/trainings/${RUN}`,
      finishedAt: '2026-01-01T00:00:00.000Z',
    },
  };
  return { id: data.event.deliveryId, data, attemptsMade } as unknown as Job;
}

const deliver = (url: string, config = configFor(`127.0.0.1:${port}`), attemptsMade = 0) => deliverCallbackHandler(jobOf(url, attemptsMade), { config });

async function failureOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the delivery to fail');
}

describe('deliverCallbackHandler', () => {
  it('POSTs the event as JSON, signed over the exact body, with the event, delivery and timestamp headers', async () => {
    const before = Date.now();
    expect(await deliver(`http://127.0.0.1:${port}/hooks/padim?team=vision`, undefined, 2)).toEqual({ status: 200, attempt: 3 });
    expect(received).toHaveLength(1);
    const [request] = received;
    expect([request.method, request.url, request.headers['content-type']]).toEqual(['POST', '/hooks/padim?team=vision', 'application/json']);
    expect(verifyCallbackSignature(request.body, request.headers[CALLBACK_HEADERS.signature], SECRET)).toBe(true);
    expect(verifyCallbackSignature(request.body, request.headers[CALLBACK_HEADERS.signature], `${SECRET}-other`)).toBe(false);
    const body = completionEvent.parse(JSON.parse(request.body));
    expect(body).toEqual({ ...jobOf('').data.event, sentAt: request.headers[CALLBACK_HEADERS.timestamp] });
    expect(Date.parse(body.sentAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(request.headers[CALLBACK_HEADERS.event]).toBe('training.succeeded');
    expect(request.headers[CALLBACK_HEADERS.delivery]).toBe(`training-${RUN}`);
  });

  it('leaves a 5xx, 408 or 429 to be retried, and gives up at once on another 4xx', async () => {
    for (const status of [500, 503, 408, 429]) {
      answers = [{ status }];
      const error = await failureOf(deliver(`http://127.0.0.1:${port}/`));
      expect([status, error instanceof UnrecoverableError, error.message]).toEqual([status, false, expect.stringContaining(`answered ${status}`)]);
    }
    for (const status of [400, 401, 404, 410]) {
      answers = [{ status }];
      const error = await failureOf(deliver(`http://127.0.0.1:${port}/`));
      expect([status, error instanceof UnrecoverableError, error.message]).toEqual([status, true, expect.stringMatching(`answered ${status}; not retried`)]);
    }
  });

  it('does not follow a redirect, which could lead anywhere: it gives up', async () => {
    answers = [{ status: 307, headers: { location: 'http://127.0.0.1:6379/' } }];
    const error = await failureOf(deliver(`http://127.0.0.1:${port}/`));
    expect([error instanceof UnrecoverableError, error.message]).toEqual([true, expect.stringMatching(/answered 307; not retried/)]);
    expect(received).toHaveLength(1);
  });

  it('retries a receiver that does not answer within PADIM_CALLBACK_TIMEOUT_MS, or refuses the connection', async () => {
    answers = [{ status: 200, delayMs: 1500 }];
    const slow = await failureOf(deliver(`http://127.0.0.1:${port}/`, configFor(`127.0.0.1:${port}`, { PADIM_CALLBACK_TIMEOUT_MS: '300' })));
    expect([slow instanceof UnrecoverableError, slow.message]).toEqual([false, expect.stringMatching(/timeout|aborted/i)]);
    const closed = await failureOf(deliver('http://127.0.0.1:9/', configFor('127.0.0.1:9')));
    expect([closed instanceof UnrecoverableError, closed.message]).toEqual([false, expect.stringMatching(/ECONNREFUSED|fetch failed/)]);
  });

  it("checks the host against this worker's PADIM_CALLBACK_HOSTS before sending anything", async () => {
    const other = await failureOf(deliver(`http://127.0.0.1:${port}/`, configFor('hooks.example.com')));
    expect([other instanceof UnrecoverableError, other.message]).toEqual([
      true,
      expect.stringMatching(`host 127.0.0.1:${port} is not in PADIM_CALLBACK_HOSTS`),
    ]);
    const none = await failureOf(deliver(`http://127.0.0.1:${port}/`, loadFleetConfig({})));
    expect([none instanceof UnrecoverableError, none.message]).toEqual([true, expect.stringMatching(/callbacks are disabled/)]);
    expect(received).toEqual([]);
  });
});
