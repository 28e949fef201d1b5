import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Job } from 'bullmq';
import sharp from 'sharp';
import type { ScoreImagesJob } from '@padim-fleet/contracts';
import { WorkerMetrics, createFleetLogger, removeOnlineRequest } from '@padim-fleet/fleet';
import { BlobBody, LocalBlobStore, PutOptions, StoreUnavailableError, isStoreUnavailableReason, uploadPrefix } from '@padim-fleet/storage';
import { fakeScorer } from '../../../../libs/compute/src/testing/fake-scorer';
import type { JobContext } from './job-context';
import { scoreImagesHandler } from './score-images.handler';

const REQUEST = '5f1c7a2e-0000-4000-8000-000000000001';

/** A real folder store with one fault to play: a failing write, or the API giving up once the first PNG is written. */
class FaultyStore extends LocalBlobStore {
  failNextPng = false;
  unreachable = false;

  override async openRead(key: string): Promise<NodeJS.ReadableStream> {
    if (this.unreachable) throw new StoreUnavailableError(`S3 get "${key}" failed: TimeoutError: socket hang up`);
    return super.openRead(key);
  }

  onFirstPng: (() => Promise<void>) | null = null;

  override async put(key: string, body: BlobBody, opts?: PutOptions): Promise<{ size: number }> {
    if (key.startsWith('scores/') && this.failNextPng) {
      this.failNextPng = false;
      throw new Error(`disk full writing ${key}`);
    }
    const written = await super.put(key, body, opts);
    if (key.startsWith('scores/') && this.onFirstPng) {
      const giveUp = this.onFirstPng;
      this.onFirstPng = null;
      await giveUp();
    }
    return written;
  }
}

let root: string;
let store: FaultyStore;
let ctx: JobContext;

const grey = (v: number) =>
  sharp({ create: { width: 24, height: 24, channels: 3, background: { r: v, g: v, b: v } } })
    .png()
    .toBuffer();

async function keys(prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const info of store.list(prefix)) found.push(info.key);
  return found.sort();
}

/** Stores two images as the API does, and the job that scores them at the given attempt. */
async function request(attemptsMade: number, inline = false): Promise<Job> {
  const images = [];
  for (const [i, v] of [240, 10].entries()) {
    const key = `${uploadPrefix(REQUEST)}00${i}-frame.png`;
    if (!(await store.head(key))) await store.put(key, await grey(v));
    images.push({ key, name: 'frame.png' });
  }
  const data: ScoreImagesJob = { requestId: REQUEST, category: 'grey', version: 'v1', images, inline };
  return { id: REQUEST, name: 'ScoreImages', data, attemptsMade, opts: { attempts: 2 } } as unknown as Job;
}

/** `padim_images_scored_total` of one kind, as the worker's /metrics would show it. */
async function imagesScored(kind: 'online' | 'batch'): Promise<number | undefined> {
  return (await ctx.metrics.imagesScored.get()).values.find((v) => v.labels.kind === kind)?.value;
}

/** Lets any clean-up the handler did not await run before the store is read. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'score-images-'));
  store = new FaultyStore(root);
  const scorers = { acquire: async () => ({ value: fakeScorer(), version: 'v1', category: 'grey', done: () => undefined }) };
  ctx = { log: createFleetLogger({ LOG_LEVEL: 'silent' }, 'worker'), store, scorers, metrics: new WorkerMetrics() } as unknown as JobContext;
});
afterEach(() => fs.rm(root, { recursive: true, force: true }));

describe('scoreImagesHandler', () => {
  it('answers with one result per image, each with PNGs of its own, and leaves the images to the API', async () => {
    const answer = await scoreImagesHandler(await request(0), ctx);
    expect(answer!.results.map((r) => [r.file, r.label])).toEqual([
      ['frame.png', 'anomalous'],
      ['frame.png', 'normal'],
    ]);
    expect(answer!.results[0].heatmap).not.toBe(answer!.results[1].heatmap);
    // The API removes them once it has the answer (a worker killed after answering could not).
    expect(await keys('uploads/')).toHaveLength(2);
    expect(await keys('scores/')).toHaveLength(4);
    expect(await imagesScored('online')).toBe(2);
  });

  it('keeps the images for the retry when an attempt fails, and the retry scores them', async () => {
    store.failNextPng = true;
    await expect(scoreImagesHandler(await request(0), ctx)).rejects.toThrow(/disk full/);
    expect(await imagesScored('online')).toBe(0);
    await settle();
    expect(await keys('uploads/')).toHaveLength(2);
    const answer = await scoreImagesHandler(await request(1), ctx);
    expect(answer!.results.map((r) => r.error)).toEqual([null, null]);
    expect(await imagesScored('online')).toBe(2);
  });

  it('fails with a reason marked as a store outage when the store cannot be read, for the API to answer 503', async () => {
    const job = await request(0);
    store.unreachable = true;
    const failure = await scoreImagesHandler(job, ctx).then(
      () => null,
      (error: Error) => error,
    );
    expect(failure).toBeInstanceOf(StoreUnavailableError);
    expect(isStoreUnavailableReason(failure!.message)).toBe(true);
    expect(failure!.message).toMatch(/socket hang up/);
  });

  it('scores nothing and writes nothing for a request whose images the API has removed', async () => {
    const job = await request(0);
    await removeOnlineRequest(store, REQUEST);
    expect(await scoreImagesHandler(job, ctx)).toBeNull();
    expect(await keys('')).toEqual([]);
  });

  it('removes the PNGs it wrote when the API gives up on the request while it runs', async () => {
    store.onFirstPng = () => removeOnlineRequest(store, REQUEST);
    expect(await scoreImagesHandler(await request(0), ctx)).toBeNull();
    expect(await keys('')).toEqual([]);
  });
});
