import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Job } from 'bullmq';
import sharp from 'sharp';
import { ScoreRow, ScoringPlan, loadFleetConfig } from '@padim-fleet/contracts';
import { WorkerMetrics, createFleetLogger } from '@padim-fleet/fleet';
import { BlobBody, LocalBlobStore, PutOptions, scoringChunkKey, scoringPlanKey } from '@padim-fleet/storage';
import { fakeScorer } from '../../../../libs/compute/src/testing/fake-scorer';
import type { JobContext } from './job-context';
import { scoreChunkHandler } from './score-chunk.handler';

const SCORING = '5f1c7a2e-0000-4000-8000-000000000003';

/** A real folder store whose writes of a chunk's rows fail while `failChunks` is set. */
class FaultyStore extends LocalBlobStore {
  failChunks = false;
  override async put(key: string, body: BlobBody, opts?: PutOptions): Promise<{ size: number }> {
    if (this.failChunks && key.includes('/chunks/')) throw new Error(`disk full writing ${key}`);
    return super.put(key, body, opts);
  }
}

let root: string;
let store: FaultyStore;
let calls: string[];
let ctx: JobContext;

const grey = (v: number) =>
  sharp({ create: { width: 24, height: 24, channels: 3, background: { r: v, g: v, b: v } } })
    .png()
    .toBuffer();

const job = (chunk: number) => ({ id: `${SCORING}-${chunk}`, name: 'ScoreChunk', data: { scoringId: SCORING, chunk, imageCount: 2 } }) as unknown as Job;

async function rowsOf(chunk: number): Promise<ScoreRow[]> {
  const text = (await store.get(scoringChunkKey(SCORING, chunk))).toString('utf8');
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ScoreRow);
}

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'score-chunk-'));
  store = new FaultyStore(root);
  await store.put('batches/bright.png', await grey(240));
  await store.put('batches/dark.png', await grey(10));
  const item = (file: string) => ({ file, key: `batches/${file}` });
  const plan: ScoringPlan = {
    scoringId: SCORING,
    category: 'grey',
    version: 'v1',
    input: 'store:batches/',
    source: 'store',
    chunks: [[item('dark.png')], [item('bright.png'), item('dark.png')]],
  };
  await store.put(scoringPlanKey(SCORING), JSON.stringify(plan));
  calls = [];
  const scorers = { acquire: async () => ({ value: fakeScorer(), done: () => void calls.push('done') }) };
  const scoringRuns = {
    recordChunkProgress: async (id: string, chunk: number, done: number) => void calls.push(`progress ${id === SCORING} ${chunk} ${done}`),
    recordChunkFailure: async (id: string, chunk: number, error: string) => void calls.push(`failure ${id === SCORING} ${chunk} ${error}`),
  };
  ctx = {
    log: createFleetLogger({ LOG_LEVEL: 'silent' }, 'worker'),
    config: loadFleetConfig({}),
    store,
    scorers,
    scoringRuns,
    metrics: new WorkerMetrics(),
  } as unknown as JobContext;
});
afterEach(() => fs.rm(root, { recursive: true, force: true }));

describe('scoreChunkHandler', () => {
  it("scores its own chunk's items into the chunk's key, replacing what an earlier attempt wrote", async () => {
    await store.put(scoringChunkKey(SCORING, 1), '{"file":"left by an earlier attempt"}\n');
    expect(await scoreChunkHandler(job(1), ctx)).toEqual({ rows: 2 });
    expect((await rowsOf(1)).map((r) => [r.file, r.label])).toEqual([
      ['bright.png', 'anomalous'],
      ['dark.png', 'normal'],
    ]);
    expect(await store.head(scoringChunkKey(SCORING, 0))).toBeNull();
    expect(calls[0]).toBe('progress true 1 0');
    expect(calls.slice(-2)).toEqual(['progress true 1 2', 'done']);
    const scored = (await ctx.metrics.imagesScored.get()).values.map((v) => [v.labels.kind, v.value]);
    expect(scored).toEqual([
      ['online', 0],
      ['batch', 2],
    ]);
  });

  it('records the failure and rethrows when the store refuses its rows, and gives the scorer back', async () => {
    store.failChunks = true;
    await expect(scoreChunkHandler(job(0), ctx)).rejects.toThrow(/disk full/);
    // The failure comes after the last progress: the chunk does not look finished.
    expect(calls.slice(-2)).toEqual([`failure true 0 disk full writing ${scoringChunkKey(SCORING, 0)}`, 'done']);
  });

  it('fails without retries for a chunk the plan does not have', async () => {
    await expect(scoreChunkHandler(job(2), ctx)).rejects.toThrow(`scoring ${SCORING}: no chunk 2`);
  });
});
