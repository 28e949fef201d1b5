import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { CALLBACK_HEADERS, CompletionEvent, QueueName, ScoringStatus, completionEvent, verifyCallbackSignature } from '@padim-fleet/contracts';
import { createRedis } from '@padim-fleet/fleet';
import { generateSyntheticDataset, listImagesRecursive } from '@padim-fleet/inference';
import type { S3BlobStore } from '@padim-fleet/storage';
import { FleetApiClient } from '../support/fleet-api';
import { setUpFleetE2e, tearDownFleetE2e, type FleetE2e } from '../support/fleet-e2e';
import { FleetProcess, pollUntil, sleep } from '../support/fleet-processes';
import { describeWithRedis, describeWithS3, redisTestUrl } from '../support/services';

const API_KEY = 'e2e-callbacks-Tq3nW8vL5xR2mZ7kJ4pB';
const CALLBACK_SECRET = 'e2e-callback-secret-Yd6hF1sN9cV4bG7wQ2eA';

interface Delivery {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The status the receiver answered. */
  status: number;
}

/**
 * A callback receiver on 127.0.0.1: records every request it gets by path; a path listed in `scripted`
 * is answered with those statuses in turn (then 200), any other with 200.
 */
class Receiver {
  readonly deliveries: Delivery[] = [];
  readonly scripted = new Map<string, number[]>();
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = this.scripted.get(req.url!)?.shift() ?? 200;
      this.deliveries.push({ path: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'try again');
    });
  });
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  url(route: string): string {
    return `http://127.0.0.1:${this.port}${route}`;
  }

  at(route: string): Delivery[] {
    return this.deliveries.filter((d) => d.path === route);
  }

  /** Waits for `count` deliveries to `route`, then a while longer to see that no more come. */
  async received(route: string, count = 1, timeoutMs = 180_000): Promise<Delivery[]> {
    await pollUntil(
      async () => this.at(route),
      (d) => d.length >= count,
      timeoutMs,
      `${count} callbacks to ${route}`,
    );
    await sleep(1500);
    return this.at(route);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** The delivery's event, after checking its signature with the fleet's secret and its headers against its body. */
function verifiedEvent(delivery: Delivery): CompletionEvent {
  expect(verifyCallbackSignature(delivery.body, delivery.headers[CALLBACK_HEADERS.signature], CALLBACK_SECRET)).toBe(true);
  const event = completionEvent.parse(JSON.parse(delivery.body));
  expect(delivery.headers['content-type']).toBe('application/json');
  expect(delivery.headers[CALLBACK_HEADERS.event]).toBe(event.event);
  expect(delivery.headers[CALLBACK_HEADERS.delivery]).toBe(event.deliveryId);
  expect(delivery.headers[CALLBACK_HEADERS.timestamp]).toBe(event.sentAt);
  return event;
}

/**
 * Completion callbacks end to end: the API and one worker process (all roles) with their own queue
 * prefix and bucket, a receiver on 127.0.0.1 whose host:port is the only one allowed, small synthetic
 * runs at 64×64 with the shipped resnet18.
 */
describeWithRedis('fleet completion callbacks', () => {
  describeWithS3('with S3', () => {
    const receiver = new Receiver();
    let setup: FleetE2e;
    let store: S3BlobStore;
    let api: FleetProcess;
    let worker: FleetProcess;
    let client: FleetApiClient;
    let data: string;
    let version: string;

    beforeAll(async () => {
      await receiver.start();
      setup = await setUpFleetE2e({
        redisUrl: redisTestUrl(),
        apiKey: API_KEY,
        scratchPrefix: 'padim-e2e-callbacks-',
        extra: (scratch) => ({
          PADIM_DATASET_ROOTS: scratch,
          PADIM_SCRATCH_DIR: path.join(scratch, 'reduce'),
          WORKER_ROLES: 'extract,reduce,score',
          JOB_ATTEMPTS: '2',
          JOB_BACKOFF_MS: '500',
          PADIM_CALLBACK_HOSTS: `127.0.0.1:${receiver.port}`,
          PADIM_CALLBACK_SECRET: CALLBACK_SECRET,
          PADIM_CALLBACK_BACKOFF_MS: '300',
          PADIM_CALLBACK_ATTEMPTS: '5',
        }),
      });
      store = setup.store;
      data = path.join(setup.scratch, 'weave');
      await generateSyntheticDataset(data, { size: 64, train: 8, testGood: 2, testPerDefect: 1 });
      for (const file of await listImagesRecursive(path.join(data, 'test')))
        await store.put(`inputs/weave/${path.relative(path.join(data, 'test'), file)}`, await fs.readFile(file));
      api = await FleetProcess.startApi(setup.env);
      worker = await FleetProcess.startWorker('worker', setup.env);
      client = new FleetApiClient(`http://127.0.0.1:${setup.port}`, API_KEY);
    }, 180_000);

    afterAll(async () => {
      await tearDownFleetE2e(setup, [api, worker]);
      await receiver.stop();
      if (!setup) return;
      const redis = createRedis(redisTestUrl(), 'padim-e2e-cleanup');
      for await (const keys of redis.scanStream({ match: `${setup.env.PADIM_QUEUE_PREFIX}:*`, count: 500 }))
        if ((keys as string[]).length > 0) await redis.del(...(keys as string[]));
      await redis.quit();
    }, 120_000);

    async function scoring(body: Record<string, unknown>): Promise<ScoringStatus> {
      const res = await client.request('POST', '/v1/scorings', body);
      expect([res.status, res.body]).toEqual([202, expect.objectContaining({ scoringId: expect.any(String) })]);
      return pollUntil(
        () => client.request('GET', `/v1/scorings/${res.body.scoringId}`).then((r) => r.body as ScoringStatus),
        (s) => s.state === 'completed' || s.state === 'failed',
        180_000,
        'the scoring',
      );
    }

    it('sends one signed training.succeeded when a run publishes its version', async () => {
      const runId = await client.train({
        category: 'weave',
        dataset: path.join(data, 'train/good'),
        size: 64,
        callbackUrl: receiver.url('/hooks/train?team=vision'),
      });
      const status = await client.waitForRun(runId, 240_000);
      expect([status.state, status.error]).toEqual(['completed', undefined]);
      version = status.version;
      const deliveries = await receiver.received('/hooks/train?team=vision');
      expect(deliveries).toHaveLength(1);
      const event = verifiedEvent(deliveries[0]);
      expect(event).toEqual({
        event: 'training.succeeded',
        deliveryId: `training-${runId}`,
        id: runId,
        category: 'weave',
        version,
        state: 'completed',
        imageCount: status.result!.imageCount,
        current: true,
        status: `/v1/trainings/${runId}`,
        finishedAt: expect.any(String),
        sentAt: expect.any(String),
      });
      expect(Date.parse(event.finishedAt)).toBeLessThanOrEqual(Date.parse(event.sentAt));
      expect(verifyCallbackSignature(deliveries[0].body, deliveries[0].headers[CALLBACK_HEADERS.signature], 'another-secret-of-at-least-32-chars')).toBe(false);
    }, 300_000);

    it('sends training.failed with the reason when a run fails', async () => {
      const broken = path.join(setup.scratch, 'broken');
      await fs.mkdir(broken, { recursive: true });
      await fs.writeFile(path.join(broken, 'a.png'), 'not a png');
      await fs.writeFile(path.join(broken, 'b.png'), 'not a png either');
      const runId = await client.train({ category: 'broken', dataset: broken, size: 64, holdout: 0, callbackUrl: receiver.url('/hooks/broken') });
      const status = await client.waitForRun(runId, 120_000);
      expect(status.state).toBe('failed');
      const deliveries = await receiver.received('/hooks/broken');
      expect(deliveries).toHaveLength(1);
      expect(verifiedEvent(deliveries[0])).toEqual({
        event: 'training.failed',
        deliveryId: `training-${runId}`,
        id: runId,
        category: 'broken',
        version: status.version,
        state: 'failed',
        error: expect.stringMatching(/at least 2 usable images/),
        status: `/v1/trainings/${runId}`,
        finishedAt: expect.any(String),
        sentAt: expect.any(String),
      });
    }, 180_000);

    it('sends one training.failed in state cancelled for a cancelled run, though each of its shards stops on its own', async () => {
      // The shards wait on a paused queue until the run is cancelled, then each stops and reports the run's end: one delivery.
      const extract = new Queue(QueueName.Extract, { connection: { url: redisTestUrl() }, prefix: setup.env.PADIM_QUEUE_PREFIX });
      try {
        await extract.pause();
        const runId = await client.train({
          category: 'weave-cancel',
          dataset: path.join(data, 'train/good'),
          size: 64,
          shards: 2,
          callbackUrl: receiver.url('/hooks/cancel'),
        });
        expect((await client.request('DELETE', `/v1/trainings/${runId}`)).body.state).toBe('cancelled');
        await extract.resume();
        await pollUntil(
          () => client.status(runId),
          (s) => s.shards.every((x) => x.state === 'failed'),
          120_000,
          'both shards to stop',
        );
        const deliveries = await receiver.received('/hooks/cancel');
        expect(deliveries).toHaveLength(1);
        expect(verifiedEvent(deliveries[0])).toEqual({
          event: 'training.failed',
          deliveryId: `training-${runId}`,
          id: runId,
          category: 'weave-cancel',
          version: expect.any(String),
          state: 'cancelled',
          error: 'cancelled',
          status: `/v1/trainings/${runId}`,
          finishedAt: expect.any(String),
          sentAt: expect.any(String),
        });
      } finally {
        await extract.resume();
        await extract.close();
      }
    }, 180_000);

    it('sends scoring.succeeded with the summary when a batch scoring is assembled', async () => {
      const status = await scoring({ category: 'weave', input: 'store:inputs/weave/', chunkSize: 2, callbackUrl: receiver.url('/hooks/score') });
      expect([status.state, status.error]).toEqual(['completed', undefined]);
      const deliveries = await receiver.received('/hooks/score');
      expect(deliveries).toHaveLength(1);
      expect(verifiedEvent(deliveries[0])).toEqual({
        event: 'scoring.succeeded',
        deliveryId: `scoring-${status.scoringId}`,
        id: status.scoringId,
        category: 'weave',
        version,
        state: 'completed',
        summary: status.summary,
        status: `/v1/scorings/${status.scoringId}`,
        finishedAt: expect.any(String),
        sentAt: expect.any(String),
      });
      expect(status.summary!.images).toBe(5);
    }, 240_000);

    it('sends scoring.failed with the reason when a batch scoring fails', async () => {
      const status = await scoring({ category: 'weave', input: 'store:inputs/nothing-here/', callbackUrl: receiver.url('/hooks/score-failed') });
      expect(status.state).toBe('failed');
      const deliveries = await receiver.received('/hooks/score-failed');
      expect(deliveries).toHaveLength(1);
      expect(verifiedEvent(deliveries[0])).toEqual({
        event: 'scoring.failed',
        deliveryId: `scoring-${status.scoringId}`,
        id: status.scoringId,
        category: 'weave',
        state: 'failed',
        error: 'input store:inputs/nothing-here/: no files to score',
        status: `/v1/scorings/${status.scoringId}`,
        finishedAt: expect.any(String),
        sentAt: expect.any(String),
      });
    }, 120_000);

    it('retries a receiver that answers 500 twice: three attempts of the same delivery, each signed', async () => {
      receiver.scripted.set('/hooks/flaky', [500, 500]);
      const status = await scoring({ category: 'weave', input: 'store:inputs/weave/', callbackUrl: receiver.url('/hooks/flaky') });
      expect(status.state).toBe('completed');
      const deliveries = await receiver.received('/hooks/flaky', 3);
      expect(deliveries.map((d) => d.status)).toEqual([500, 500, 200]);
      const events = deliveries.map(verifiedEvent);
      expect(new Set(events.map((e) => e.deliveryId))).toEqual(new Set([`scoring-${status.scoringId}`]));
      expect(events.map((e) => e.event)).toEqual(['scoring.succeeded', 'scoring.succeeded', 'scoring.succeeded']);
      // Each attempt is sent (and signed) anew, at its own time.
      expect(events.map((e) => e.sentAt)).toEqual([...events.map((e) => e.sentAt)].sort());
      const callbacks = new Queue(QueueName.Callbacks, { connection: { url: redisTestUrl() }, prefix: setup.env.PADIM_QUEUE_PREFIX });
      try {
        const job = await callbacks.getJob(`scoring-${status.scoringId}`);
        expect([await job?.getState(), job?.attemptsMade]).toEqual(['completed', 3]);
      } finally {
        await callbacks.close();
      }
    }, 240_000);

    it('refuses a callbackUrl whose host is not allowed, or that is not http(s), with a 400 naming the field', async () => {
      const dataset = path.join(data, 'train/good');
      const cases: [string, unknown, RegExp][] = [
        [
          '/v1/trainings',
          { category: 'weave', dataset, callbackUrl: 'http://127.0.0.1:6379/' },
          /body\.callbackUrl: host 127\.0\.0\.1:6379 is not in PADIM_CALLBACK_HOSTS/,
        ],
        [
          '/v1/trainings',
          { category: 'weave', dataset, callbackUrl: `http://localhost:${receiver.port}/x` },
          /body\.callbackUrl: host localhost:\d+ is not in/,
        ],
        ['/v1/trainings', { category: 'weave', dataset, callbackUrl: `file:///etc/passwd` }, /body\.callbackUrl: must be an http/],
        [
          '/v1/trainings/batch',
          {
            runs: [
              { category: 'weave', dataset },
              { category: 'weave', dataset, callbackUrl: 'https://metadata.internal/' },
            ],
          },
          /body\.runs\.1\.callbackUrl: host metadata\.internal:443 is not in PADIM_CALLBACK_HOSTS/,
        ],
        [
          '/v1/scorings',
          { category: 'weave', input: 'store:inputs/weave/', callbackUrl: 'http://169.254.169.254/latest' },
          /body\.callbackUrl: host 169\.254\.169\.254:80 is not/,
        ],
      ];
      for (const [route, body, message] of cases) {
        const res = await client.request('POST', route, body);
        expect([route, res.status, res.body.message]).toEqual([route, 400, expect.stringMatching(message)]);
      }
      const uploadTraining = new FormData();
      uploadTraining.append('request', JSON.stringify({ category: 'weave', size: 64, callbackUrl: 'http://10.0.0.1/' }));
      uploadTraining.append('archive', new Blob([Buffer.from('not read')]), 'images.zip');
      const training = await fetch(`${client.baseUrl}/v1/trainings/upload`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}` },
        body: uploadTraining,
      });
      expect([training.status, ((await training.json()) as { message: string }).message]).toEqual([
        400,
        expect.stringMatching(/request\.callbackUrl: host 10\.0\.0\.1:80 is not/),
      ]);
      const uploadScoring = new FormData();
      uploadScoring.append('category', 'weave');
      uploadScoring.append('callbackUrl', 'http://10.0.0.1/');
      uploadScoring.append('archive', new Blob([Buffer.from('not read')]), 'images.zip');
      const scored = await fetch(`${client.baseUrl}/v1/scorings/upload`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}` },
        body: uploadScoring,
      });
      expect([scored.status, ((await scored.json()) as { message: string }).message]).toEqual([
        400,
        expect.stringMatching(/body\.callbackUrl: host 10\.0\.0\.1:80 is not/),
      ]);
    }, 60_000);
  });
});
