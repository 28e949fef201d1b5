import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { generateSyntheticDataset } from '@padim-fleet/inference';
import { writeZerosTarGz } from '../../libs/archives/src/testing/zeros-tar-gz';
import type { BlobStore, S3BlobStore } from '@padim-fleet/storage';
import { FleetApiClient } from '../support/fleet-api';
import { setUpFleetE2e, tearDownFleetE2e, type FleetE2e } from '../support/fleet-e2e';
import { FleetProcess, pollUntil, sleep } from '../support/fleet-processes';
import { describeWithRedis, describeWithS3, redisTestUrl, s3TestClient } from '../support/services';

const API_KEY = 'e2e-upload-key-Tn5wQ8zK3vX7mR2pB9cL';
const MiB = 1024 * 1024;
/** Above the S3 store's 16 MiB part size, so that an upload cut short leaves a multipart upload to abort. */
const MAX_UPLOAD_BYTES = 40 * MiB;
const MAX_ONLINE_BYTES = 2 * MiB;
const BOUNDARY = 'padim-e2e-boundary-7f3a';

async function storeKeys(store: BlobStore, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys;
}

/** Multipart uploads begun in the bucket and neither completed nor aborted. */
async function unfinishedUploads(bucket: string): Promise<number> {
  const s3 = s3TestClient();
  try {
    return (await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads?.length ?? 0;
  } finally {
    s3.destroy();
  }
}

/** Resident memory of a process, from /proc (Linux). */
function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match?.[1]) * 1024;
}

type Part = { name: string; value: string } | { name: string; filename: string; data: Buffer | AsyncIterable<Buffer> };

function partHeader(part: Part): Buffer {
  const disposition = 'filename' in part ? `form-data; name="${part.name}"; filename="${part.filename}"` : `form-data; name="${part.name}"`;
  const type = 'filename' in part ? '\r\nContent-Type: application/octet-stream' : '';
  return Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: ${disposition}${type}\r\n\r\n`);
}

/** A multipart body as a stream of chunks, so that a test can send more than it holds, or stall midway. */
async function* multipartBody(parts: Part[]): AsyncGenerator<Buffer> {
  for (const part of parts) {
    yield partHeader(part);
    if (!('filename' in part)) yield Buffer.from(part.value);
    else if (Buffer.isBuffer(part.data)) yield part.data;
    else yield* part.data;
    yield Buffer.from('\r\n');
  }
  yield Buffer.from(`--${BOUNDARY}--\r\n`);
}

/** `count` MiB of bytes that start like a zip, made as they are sent. */
async function* zipLikeBytes(mib: number, extraBytes = 0): AsyncGenerator<Buffer> {
  yield Buffer.concat([Buffer.from('PK\u0003\u0004'), randomBytes(MiB - 4)]);
  for (let i = 1; i < mib; i++) yield randomBytes(MiB);
  if (extraBytes > 0) yield randomBytes(extraBytes);
}

/** Never ends: the body of a client that keeps sending. */
async function* endlessBytes(): AsyncGenerator<Buffer> {
  yield randomBytes(MiB);
  for (;;) {
    await sleep(200);
    yield randomBytes(1024);
  }
}

/**
 * POSTs a multipart body with node:http, chunked (no Content-Length) unless `length` is given, and
 * resolves with the answer as soon as it comes, even while the body is still being sent.
 */
function postMultipart(baseUrl: string, route: string, parts: Part[]): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${baseUrl}${route}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        req.destroy();
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text) });
      });
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    void (async () => {
      for await (const chunk of multipartBody(parts)) {
        if (answered || req.destroyed) return;
        if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })().catch(() => undefined);
  });
}

describeWithRedis('uploads through the API: limits while streaming, archives unpacked by a job', () => {
  describeWithS3('with S3', () => {
    let setup: FleetE2e;
    let store: S3BlobStore;
    let api: FleetProcess;
    const workers: FleetProcess[] = [];
    let client: FleetApiClient;
    let scratch: string;
    let goodArchive: string;

    const trainingUpload = (archive: string, name: string, request: Record<string, unknown> = { category: 'weave', size: 64, holdout: 0 }) =>
      postMultipart(client.baseUrl, '/v1/trainings/upload', [
        { name: 'request', value: JSON.stringify(request) },
        { name: 'archive', filename: name, data: readFileSync(archive) },
      ]);

    const waitUntilPrepared = (runId: string) =>
      pollUntil(
        () => client.status(runId),
        (s) => s.state !== 'preparing',
        60_000,
        `run ${runId} to be prepared`,
      );

    beforeAll(async () => {
      setup = await setUpFleetE2e({
        redisUrl: redisTestUrl(),
        apiKey: API_KEY,
        scratchPrefix: 'padim-e2e-uploads-',
        extra: () => ({
          WORKER_ROLES: 'reduce',
          API_MAX_UPLOAD_BYTES: String(MAX_UPLOAD_BYTES),
          ONLINE_MAX_REQUEST_BYTES: String(MAX_ONLINE_BYTES),
          ONLINE_MAX_CONCURRENT: '2',
          SCORE_TIMEOUT_MS: '5000',
          JOB_ATTEMPTS: '3',
          JOB_BACKOFF_MS: '500',
        }),
      });
      ({ store, scratch } = setup);
      const data = path.join(scratch, 'data');
      await generateSyntheticDataset(data, { size: 64, train: 12, testGood: 1, testPerDefect: 1 });
      goodArchive = path.join(scratch, 'good.tar.gz');
      execFileSync('tar', ['-czf', goodArchive, '-C', path.join(data, 'train/good'), '.']);
      // A model the online and scoring routes find (they check only that its manifest exists before queueing).
      await store.put('models/widget/v1/manifest.json', '{}');
      api = await FleetProcess.startApi(setup.env);
      client = new FleetApiClient(`http://127.0.0.1:${setup.port}`, API_KEY);
    }, 120_000);

    afterAll(() => tearDownFleetE2e(setup, [api, ...workers]), 120_000);

    it('answers a training upload with 202 once the archive is stored; a job unpacks it, then plans and queues the run', async () => {
      const res = await trainingUpload(goodArchive, 'good.tar.gz');
      expect([res.status, res.body]).toEqual([202, expect.objectContaining({ runId: expect.any(String), category: 'weave', state: 'preparing' })]);
      const { runId } = res.body as { runId: string };
      // No worker runs yet: the run is there, being prepared, with its archive stored under its prefix.
      const preparing = await client.status(runId);
      expect(preparing).toMatchObject({ runId, category: 'weave', version: res.body.version, state: 'preparing', shards: [] });
      expect((await client.request('GET', '/v1/trainings')).body).toEqual(expect.arrayContaining([expect.objectContaining({ runId, state: 'preparing' })]));
      expect(await storeKeys(store, `runs/${runId}/`)).toEqual([`runs/${runId}/upload/archive`]);

      workers.push(await FleetProcess.startWorker('reduce-1', setup.env));
      const prepared = await waitUntilPrepared(runId);
      expect(prepared.error).toBeUndefined();
      expect(prepared.state).toBe('queued');
      expect(prepared.imageCount).toBe(12);
      const keys = await storeKeys(store, `runs/${runId}/`);
      expect(keys.filter((k) => k.startsWith(`runs/${runId}/images/`))).toHaveLength(12);
      expect(keys.filter((k) => k.startsWith(`runs/${runId}/upload/`))).toEqual([]);
      expect((await client.request('GET', '/v1/trainings')).body.filter((r: { runId: string }) => r.runId === runId)).toHaveLength(1);
      expect((await client.request('DELETE', `/v1/trainings/${runId}`)).body.state).toBe('cancelled');
    }, 180_000);

    it('fails the run of a tar.gz bomb with the reason, leaving no objects, and the API reads it in bounded memory', async () => {
      const bomb = path.join(scratch, 'bomb.tar.gz');
      await writeZerosTarGz(bomb, 3, 400 * MiB);
      expect((await fs.stat(bomb)).size).toBeLessThan(MAX_UPLOAD_BYTES);
      const pid = api.child.pid!;
      const rssBefore = rssBytes(pid);
      const started = Date.now();
      const res = await trainingUpload(bomb, 'bomb.tar.gz');
      const answeredMs = Date.now() - started;
      expect(res.status).toBe(202);
      const status = await pollUntil(
        () => client.status(res.body.runId),
        (s) => s.state === 'failed' || s.state === 'queued',
        60_000,
        'the bomb to be refused',
      );
      const rssAfter = rssBytes(pid);
      console.log(
        `API RSS around a 3 x 400 MiB tar.gz bomb upload: ${(rssBefore / MiB).toFixed(0)} MB before, ${(rssAfter / MiB).toFixed(0)} MB after; answered in ${answeredMs} ms`,
      );
      expect(status.state).toBe('failed');
      expect(status.error).toMatch(/^archive bomb\.tar\.gz: suspicious compression ratio of \d+:1 \(limit 200:1; possible gzip bomb\)$/);
      expect(await storeKeys(store, `runs/${res.body.runId}/`)).toEqual([]);
      expect(rssAfter - rssBefore).toBeLessThan(64 * MiB);
    }, 180_000);

    it('fails the run of a hostile archive with the reason; refuses a file that is not an archive, or a bad request, with a 400 and stores nothing', async () => {
      const evil = path.join(scratch, 'evil.tar');
      execFileSync('bash', ['-c', `cd ${scratch} && ln -sf /etc/passwd link.png && tar -cf ${evil} link.png && rm link.png`]);
      const hostile = await trainingUpload(evil, 'evil.tar');
      expect(hostile.status).toBe(202);
      const failed = await client.waitForRun(hostile.body.runId, 60_000);
      expect([failed.state, failed.error]).toEqual(['failed', 'archive evil.tar: entry "link.png" is a symbolic link; links are not allowed']);
      expect(await storeKeys(store, `runs/${hostile.body.runId}/`)).toEqual([]);

      const before = await storeKeys(store);
      const png = path.join(scratch, 'data/train/good/000.png');
      const notArchive = await trainingUpload(png, 'x.zip');
      expect([notArchive.status, notArchive.body.message]).toEqual([400, 'archive: x.zip is not a .zip, .tar or .tar.gz archive (by its first bytes)']);
      const badRequest = await trainingUpload(goodArchive, 'good.tar.gz', { category: 'weave', d: 0 });
      expect([badRequest.status, badRequest.body.message]).toEqual([400, expect.stringMatching(/^request\.d: /)]);
      // The archive first and the request after: stored, then removed again.
      const late = await postMultipart(client.baseUrl, '/v1/trainings/upload', [
        { name: 'archive', filename: 'good.tar.gz', data: readFileSync(goodArchive) },
        { name: 'request', value: '{"category": "weave", "backbone": "vgg"}' },
      ]);
      expect([late.status, late.body.message]).toEqual([400, expect.stringMatching(/^request\.backbone: /)]);
      const noArchive = await postMultipart(client.baseUrl, '/v1/trainings/upload', [{ name: 'request', value: '{"category": "weave"}' }]);
      expect([noArchive.status, noArchive.body.message]).toEqual([400, 'archive: upload an archive (multipart file field "archive")']);
      expect(await storeKeys(store)).toEqual(before);
    }, 120_000);

    it('answers 413 at the first byte over API_MAX_UPLOAD_BYTES on both upload routes, leaving no object and no unfinished upload', async () => {
      const before = await storeKeys(store);
      const message = `archive: larger than the limit of ${MAX_UPLOAD_BYTES} bytes`;
      const overTraining = await postMultipart(client.baseUrl, '/v1/trainings/upload', [
        { name: 'request', value: JSON.stringify({ category: 'weave' }) },
        { name: 'archive', filename: 'big.zip', data: zipLikeBytes(40, 1) },
      ]);
      expect([overTraining.status, overTraining.body.message]).toEqual([413, message]);
      const overScoring = await postMultipart(client.baseUrl, '/v1/scorings/upload', [
        { name: 'category', value: 'widget' },
        { name: 'version', value: 'v1' },
        { name: 'archive', filename: 'big.zip', data: zipLikeBytes(40, 1) },
      ]);
      expect([overScoring.status, overScoring.body.message]).toEqual([413, message]);
      // Far over, and declared: refused before any byte is read.
      const declared = await fetch(`${client.baseUrl}/v1/scorings/upload`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}` },
        body: (() => {
          const form = new FormData();
          form.append('category', 'widget');
          form.append('archive', new Blob([Buffer.alloc(48 * MiB)]), 'big.zip');
          return form;
        })(),
      });
      expect(declared.status).toBe(413);
      expect(await storeKeys(store)).toEqual(before);
      expect(await unfinishedUploads(setup.bucket)).toBe(0);
      // Exactly at the limit is accepted (the scoring then fails in its job: these bytes are no zip).
      const atLimit = await postMultipart(client.baseUrl, '/v1/scorings/upload', [
        { name: 'category', value: 'widget' },
        { name: 'version', value: 'v1' },
        { name: 'archive', filename: 'big.zip', data: zipLikeBytes(40) },
      ]);
      expect(atLimit.status).toBe(202);
    }, 120_000);

    it('leaves no object and no unfinished upload behind when the client goes away in the middle of an upload', async () => {
      const before = await storeKeys(store);
      for (const [route, fields] of [
        ['/v1/trainings/upload', [{ name: 'request', value: JSON.stringify({ category: 'weave' }) }]],
        [
          '/v1/scorings/upload',
          [
            { name: 'category', value: 'widget' },
            { name: 'version', value: 'v1' },
          ],
        ],
      ] as const) {
        const req = http.request(`${client.baseUrl}${route}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}`, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
        });
        req.on('error', () => undefined);
        for (const part of fields) req.write(Buffer.concat([partHeader(part), Buffer.from(part.value), Buffer.from('\r\n')]));
        req.write(partHeader({ name: 'archive', filename: 'half.zip', data: Buffer.alloc(0) }));
        for await (const chunk of zipLikeBytes(36)) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        // The first 16 MiB parts are in the store by now, in a multipart upload that is still open.
        await pollUntil(
          () => unfinishedUploads(setup.bucket),
          (count) => count > 0,
          10_000,
          'a multipart upload to begin',
        );
        req.destroy();
        await pollUntil(
          () => unfinishedUploads(setup.bucket),
          (count) => count === 0,
          10_000,
          `the aborted write of ${route} to be abandoned`,
        );
      }
      expect(await storeKeys(store)).toEqual(before);
    }, 60_000);

    it('online scoring: 404 on an unknown category before reading the images, 413 over ONLINE_MAX_REQUEST_BYTES, 429 beyond ONLINE_MAX_CONCURRENT', async () => {
      const image = (n: number) => ({ name: 'images', filename: `${n}.png`, data: randomBytes(1000) });
      // The body never ends: only an answer given before reading it can arrive.
      const unknown = await postMultipart(client.baseUrl, '/v1/models/nope/score', [{ name: 'images', filename: 'a.png', data: endlessBytes() }]);
      expect(unknown.status).toBe(404);
      const uploadsBefore = await storeKeys(store, 'uploads/');
      const over = await postMultipart(client.baseUrl, '/v1/models/widget/score?version=v1', [
        { name: 'images', filename: 'a.png', data: randomBytes(MiB) },
        { name: 'images', filename: 'b.png', data: randomBytes(MiB + 1) },
      ]);
      expect([over.status, over.body.message]).toEqual([413, `images: larger than the limit of ${MAX_ONLINE_BYTES} bytes`]);
      expect(await storeKeys(store, 'uploads/')).toEqual(uploadsBefore);

      // No score worker: two requests wait for the pool (until SCORE_TIMEOUT_MS), a third is turned away at once.
      const held = [
        postMultipart(client.baseUrl, '/v1/models/widget/score?version=v1', [image(1)]),
        postMultipart(client.baseUrl, '/v1/models/widget/score?version=v1', [image(2)]),
      ];
      await sleep(1000);
      const third = await postMultipart(client.baseUrl, '/v1/models/widget/score?version=v1', [image(3)]);
      expect([third.status, third.body.message]).toEqual([429, expect.stringMatching(/ONLINE_MAX_CONCURRENT=2/)]);
      expect((await Promise.all(held)).map((r) => r.status)).toEqual([504, 504]);
      // The slots are free again.
      const after = await postMultipart(client.baseUrl, '/v1/models/widget/score?version=v1', [image(4)]);
      expect(after.status).toBe(504);
    }, 120_000);
  });
});
