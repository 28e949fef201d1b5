import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import sharp from 'sharp';
import { JobName, OnlineScoreResponse, QueueName } from '@padim-fleet/contracts';
import { createRedis, publishModel } from '@padim-fleet/fleet';
import { listImagesRecursive, resolveBackbone, trainModel } from '@padim-fleet/inference';
import type { S3BlobStore } from '@padim-fleet/storage';
import { describeWithShared, sharedPath } from '../../libs/inference/src/testing/shared-data';
import { setUpFleetE2e, tearDownFleetE2e, type FleetE2e } from '../support/fleet-e2e';
import { FleetProcess, freePort, pollUntil } from '../support/fleet-processes';
import { describeWithRedis, describeWithS3, redisTestUrl } from '../support/services';

const API_KEY = 'e2e-online-key-Qm4vT8xR2nLw7ZcB5kYd';
const SCREW = sharedPath('datasets/mvtec-ad/screw');
/** Shorter than a score worker takes to load a model: the impatient API gives up while the job runs. */
const SHORT_TIMEOUT_MS = 300;

async function keysUnder(store: S3BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys;
}

/** Mean absolute difference of two PNGs' pixels (same size and channels). */
async function pixelDistance(a: Buffer, b: Buffer): Promise<number> {
  const [x, y] = await Promise.all([sharp(a).raw().toBuffer(), sharp(b).raw().toBuffer()]);
  expect(x.length).toBe(y.length);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.abs(x[i] - y[i]);
  return sum / x.length;
}

describeWithShared('online scoring end to end: time-outs, failures and same-named images', () => {
  describeWithRedis('with Redis', () => {
    describeWithS3('with S3', () => {
      let setup: FleetE2e;
      let store: S3BlobStore;
      let redis: Redis;
      let queue: Queue;
      /** Waits as long as a request needs. */
      let patient: FleetProcess;
      /** Gives up after SHORT_TIMEOUT_MS. */
      let impatient: FleetProcess;
      let impatientUrl: string;
      let worker: FleetProcess | undefined;
      const images: Record<string, Buffer> = {};

      function score(baseUrl: string, files: { name: string; data: Buffer }[], query = ''): Promise<Response> {
        const form = new FormData();
        for (const f of files) form.append('images', new Blob([f.data]), f.name);
        return fetch(`${baseUrl}/v1/models/screw/score${query}`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` }, body: form });
      }

      async function png(link: string): Promise<Buffer> {
        const res = await fetch(`http://127.0.0.1:${setup.port}${link}`, { headers: { authorization: `Bearer ${API_KEY}` } });
        expect([link, res.status]).toEqual([link, 200]);
        return Buffer.from(await res.arrayBuffer());
      }

      async function expectNothingLeft(): Promise<void> {
        expect(await keysUnder(store, 'uploads/')).toEqual([]);
        expect(await keysUnder(store, 'scores/')).toEqual([]);
      }

      const onlineJobs = async (states: ('waiting' | 'delayed' | 'prioritized' | 'active' | 'completed' | 'failed')[]) =>
        (await queue.getJobs(states)).filter((job) => job.name === JobName.ScoreImages);

      beforeAll(async () => {
        setup = await setUpFleetE2e({
          redisUrl: redisTestUrl(),
          apiKey: API_KEY,
          scratchPrefix: 'padim-e2e-online-',
          extra: () => ({ WORKER_ROLES: 'score' }),
        });
        store = setup.store;
        redis = createRedis(redisTestUrl(), 'padim-test');
        queue = new Queue(QueueName.Score, { connection: redis, prefix: setup.env.PADIM_QUEUE_PREFIX });
        for (const f of ['good/000.png', 'scratch_head/000.png']) images[f] = await fs.readFile(path.join(SCREW, 'test', f));
        // A small screw model is enough: these tests are about what is stored and answered, not accuracy.
        const backbone = await resolveBackbone('resnet18');
        const files = (await listImagesRecursive(path.join(SCREW, 'train/good'))).slice(0, 30);
        await publishModel(setup.registry, 'screw', 'v1', await trainModel({ category: 'screw', files, backbone, runtime: { threads: 2 } }));
        patient = await FleetProcess.startApi(setup.env);
        const impatientPort = await freePort();
        impatient = await FleetProcess.startApi({ ...setup.env, API_PORT: String(impatientPort), SCORE_TIMEOUT_MS: String(SHORT_TIMEOUT_MS) });
        impatientUrl = `http://127.0.0.1:${impatientPort}`;
      }, 300_000);

      afterAll(async () => {
        await queue?.close();
        await redis?.quit();
        await tearDownFleetE2e(setup, [patient, impatient, worker]);
      }, 120_000);

      it('answers 504 when no worker answers in time, and leaves neither the job nor the images behind', async () => {
        const res = await score(impatientUrl, [
          { name: '000.png', data: images['good/000.png'] },
          { name: '001.png', data: images['scratch_head/000.png'] },
        ]);
        expect(res.status).toBe(504);
        expect(((await res.json()) as { message: string }).message).toMatch(/no score worker answered within 300 ms/);
        expect(await onlineJobs(['waiting', 'delayed', 'prioritized', 'active'])).toEqual([]);
        await expectNothingLeft();
      }, 60_000);

      it('a worker that was already scoring when the request timed out writes nothing that stays', async () => {
        worker = await FleetProcess.startWorker('score-1', setup.env);
        // The worker takes the job at once, but loading the model takes it longer than the API waits.
        const res = await score(impatientUrl, [{ name: '000.png', data: images['scratch_head/000.png'] }]);
        expect(res.status).toBe(504);
        await pollUntil(
          () => onlineJobs(['waiting', 'delayed', 'prioritized', 'active']),
          (jobs) => jobs.length === 0,
          60_000,
          'the late job to end',
        );
        // It completed (an online job removes itself as it completes; a failed one would stay in the failed list).
        expect(await onlineJobs(['completed', 'failed'])).toEqual([]);
        await expectNothingLeft();
      }, 120_000);

      it('rejects a file name that is too long with a 400 naming the field and the file, before storing anything', async () => {
        const long = `${'frame-'.repeat(100)}.png`;
        const res = await score(`http://127.0.0.1:${setup.port}`, [
          { name: 'ok.png', data: images['good/000.png'] },
          { name: long, data: images['good/000.png'] },
        ]);
        expect(res.status).toBe(400);
        const { message } = (await res.json()) as { message: string };
        expect(message).toMatch(/^images\.1 \("frame-frame-.*….*\.png"\): must be at most 255 characters/);
        expect(await onlineJobs(['waiting', 'delayed', 'prioritized', 'active'])).toEqual([]);
        await expectNothingLeft();
      }, 60_000);

      it('removes the stored images when scoring fails after they were stored', async () => {
        worker ??= await FleetProcess.startWorker('score-1', setup.env);
        // A copy of v1 with one flipped byte in its factors: the worker refuses to load it.
        const factor = await store.get('models/screw/v1/inv_cholesky.f32');
        factor[1000] ^= 0xff;
        await store.put('models/screw/v2-corrupt/mean.f32', await store.get('models/screw/v1/mean.f32'));
        await store.put('models/screw/v2-corrupt/inv_cholesky.f32', factor);
        await store.put('models/screw/v2-corrupt/manifest.json', await store.get('models/screw/v1/manifest.json'));
        const res = await score(`http://127.0.0.1:${setup.port}`, [{ name: '000.png', data: images['good/000.png'] }], '?version=v2-corrupt');
        expect(res.status).toBe(502);
        expect(((await res.json()) as { message: string }).message).toMatch(/inv_cholesky\.f32.*corrupt/);
        await expectNothingLeft();
      }, 120_000);

      it('gives same-named images results and PNGs of their own, stored or inline', async () => {
        worker ??= await FleetProcess.startWorker('score-1', setup.env);
        const scratch = { name: '000.png', data: images['scratch_head/000.png'] };
        const good = { name: '000.png', data: images['good/000.png'] };
        // Each image alone: the heatmap and mask that are its own.
        const alone = [];
        for (const image of [scratch, good]) {
          const res = await score(`http://127.0.0.1:${setup.port}`, [image], '?inline=true');
          expect(res.status).toBe(200);
          alone.push(((await res.json()) as OnlineScoreResponse).results[0]);
          // Removed by the API before it answers, not left to the worker (which may be killed once it has answered).
          expect(await keysUnder(store, 'uploads/')).toEqual([]);
        }
        const expectOwn = async (heatmaps: Buffer[]) => {
          expect(heatmaps[0].equals(heatmaps[1])).toBe(false);
          const own = alone.map((r) => Buffer.from(r.heatmapPng!, 'base64'));
          for (const i of [0, 1]) {
            const [same, other] = [await pixelDistance(heatmaps[i], own[i]), await pixelDistance(heatmaps[i], own[1 - i])];
            expect([i, same < 1, other > 5]).toEqual([i, true, true]);
          }
        };

        const stored = await score(`http://127.0.0.1:${setup.port}`, [scratch, good]);
        expect(stored.status).toBe(200);
        const { results } = (await stored.json()) as OnlineScoreResponse;
        expect(results.map((r) => r.file)).toEqual(['000.png', '000.png']);
        for (const i of [0, 1]) expect(results[i].score).toBeCloseTo(alone[i].score!, 3);
        expect(results[0].heatmap).not.toBe(results[1].heatmap);
        expect(results[0].mask).not.toBe(results[1].mask);
        await expectOwn(await Promise.all(results.map((r) => png(r.heatmap!))));
        const masks = await Promise.all(results.map((r) => png(r.mask!)));
        for (const i of [0, 1]) expect(await pixelDistance(masks[i], Buffer.from(alone[i].maskPng!, 'base64'))).toBeLessThan(1);

        const inline = await score(`http://127.0.0.1:${setup.port}`, [scratch, good], '?inline=true');
        expect(inline.status).toBe(200);
        const inlineResults = ((await inline.json()) as OnlineScoreResponse).results;
        await expectOwn(inlineResults.map((r) => Buffer.from(r.heatmapPng!, 'base64')));
      }, 180_000);
    });
  });
});
