import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import type { Job } from 'bullmq';
import { ScoreRow } from '@padim-fleet/contracts';
import { LocalBlobStore, scoringChunkKey, scoringInputPrefix, scoringPlanKey, scoringPrefix, scoringUploadPrefix } from '@padim-fleet/storage';
import type { JobContext } from './job-context';
import { assembleScoringHandler } from './assemble-scoring.handler';
import { createFleetLogger } from '@padim-fleet/fleet';

const SCORING = '5f1c7a2e-0000-4000-8000-000000000004';
const PREFIX = scoringPrefix(SCORING);

let root: string;
let store: LocalBlobStore;
let ctx: JobContext;

function row(file: string, score: number | null): ScoreRow {
  const label = score === null ? null : score >= 0.5 ? 'anomalous' : 'normal';
  return {
    file,
    score,
    normalizedScore: score,
    label,
    threshold: 0.5,
    maxX: 0,
    maxY: 0,
    heatmap: null,
    mask: null,
    error: score === null ? 'cannot decode' : null,
  };
}

const jsonl = (rows: ScoreRow[]) => rows.map((r) => JSON.stringify(r) + '\n').join('');

async function keys(): Promise<string[]> {
  const found: string[] = [];
  for await (const info of store.list(PREFIX)) found.push(info.key.slice(PREFIX.length));
  return found.sort();
}

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'assemble-scoring-'));
  store = new LocalBlobStore(root);
  ctx = { log: createFleetLogger({ LOG_LEVEL: 'silent' }, 'worker'), store } as unknown as JobContext;
  // Written out of order: the rows are joined by chunk number, not by write time.
  await store.put(scoringChunkKey(SCORING, 1), jsonl([row('c.png', 0.9), row('d.png', null)]));
  await store.put(scoringChunkKey(SCORING, 0), jsonl([row('a.png', 0.1), row('b.png', 0.7)]));
  await store.put(`${scoringInputPrefix(SCORING)}a.png`, 'png');
  await store.put(`${scoringUploadPrefix(SCORING)}000-batch.zip`, 'zip');
  await store.put(scoringPlanKey(SCORING), '{}');
});
afterEach(() => fs.rm(root, { recursive: true, force: true }));

describe('assembleScoringHandler', () => {
  it('joins the chunks in input order into the results and the summary, then removes the scratch objects', async () => {
    const job = { id: SCORING, data: { scoringId: SCORING, chunkCount: 2, category: 'screw', version: 'v1' } } as unknown as Job;
    expect(await assembleScoringHandler(job, ctx)).toEqual({ images: 4, scored: 3, failed: 1, anomalous: 2 });
    expect(await keys()).toEqual(['results.csv', 'results.jsonl', 'summary.json']);
    const lines = (await store.get(`${PREFIX}results.jsonl`)).toString('utf8').trim().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as ScoreRow).file)).toEqual(['a.png', 'b.png', 'c.png', 'd.png']);
    const csv = (await store.get(`${PREFIX}results.csv`)).toString('utf8').trim().split('\n');
    expect(csv.slice(1).map((line) => line.split(',')[0])).toEqual(['a.png', 'b.png', 'c.png', 'd.png']);
    const summary = JSON.parse((await store.get(`${PREFIX}summary.json`)).toString('utf8')) as Record<string, unknown>;
    expect(summary).toMatchObject({
      model: { category: 'screw', version: 'v1' },
      threshold: 0.5,
      images: 4,
      errors: [{ file: 'd.png', error: 'cannot decode' }],
    });
  });

  it('fails, keeping every scratch object, when a chunk is missing', async () => {
    const job = { id: SCORING, data: { scoringId: SCORING, chunkCount: 3, category: 'screw', version: 'v1' } } as unknown as Job;
    await expect(assembleScoringHandler(job, ctx)).rejects.toThrow(/chunk-00002/);
    expect(await keys()).toEqual(['chunks/chunk-00000.jsonl', 'chunks/chunk-00001.jsonl', 'input/a.png', 'plan.json', 'upload/000-batch.zip']);
  });

  it('finishes the clean-up on a retry after an attempt that assembled the results and removed the chunks, then failed', async () => {
    const job = { id: SCORING, data: { scoringId: SCORING, chunkCount: 2, category: 'screw', version: 'v1' } } as unknown as Job;
    // The first attempt loses the store after removing the chunks: the rest of its clean-up fails.
    const failingCtx = {
      ...ctx,
      store: Object.assign(Object.create(store) as LocalBlobStore, {
        deletePrefix: async (prefix: string) => {
          if (prefix === scoringInputPrefix(SCORING)) throw new Error('store unreachable');
          await store.deletePrefix(prefix);
        },
      }),
    } as JobContext;
    await expect(assembleScoringHandler(job, failingCtx)).rejects.toThrow('store unreachable');
    expect(await keys()).toEqual(['input/a.png', 'plan.json', 'results.csv', 'results.jsonl', 'summary.json', 'upload/000-batch.zip']);
    const results = (await store.get(`${PREFIX}results.jsonl`)).toString('utf8');

    expect(await assembleScoringHandler(job, ctx)).toEqual({ images: 4, scored: 3, failed: 1, anomalous: 2 });
    expect(await keys()).toEqual(['results.csv', 'results.jsonl', 'summary.json']);
    expect((await store.get(`${PREFIX}results.jsonl`)).toString('utf8')).toBe(results);
  });

  it('assembles again from the chunks where summary.json is not a summary', async () => {
    await store.put(`${PREFIX}summary.json`, '{"images": "four"');
    const job = { id: SCORING, data: { scoringId: SCORING, chunkCount: 2, category: 'screw', version: 'v1' } } as unknown as Job;
    expect(await assembleScoringHandler(job, ctx)).toEqual({ images: 4, scored: 3, failed: 1, anomalous: 2 });
    expect(await keys()).toEqual(['results.csv', 'results.jsonl', 'summary.json']);
  });
});
