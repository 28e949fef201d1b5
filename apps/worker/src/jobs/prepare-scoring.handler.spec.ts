import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { buffer } from 'node:stream/consumers';
import { Job, UnrecoverableError } from 'bullmq';
import * as tar from 'tar-stream';
import { PrepareScoringJob, ScoringPlan, loadFleetConfig } from '@padim-fleet/contracts';
import { createFleetLogger, publishModel } from '@padim-fleet/fleet';
import { LocalBlobStore, ModelRegistry, scoringInputPrefix, scoringPlanKey, scoringUploadPrefix } from '@padim-fleet/storage';
import { tinyModel } from '../../../../test/support/tiny-model';
import { fakeScorer } from '../../../../libs/compute/src/testing/fake-scorer';
import type { JobContext } from './job-context';
import { prepareScoringHandler } from './prepare-scoring.handler';

const SCORING = '5f1c7a2e-0000-4000-8000-000000000002';

let root: string;
let store: LocalBlobStore;
let flows: ScoringPlan[];
let acquired: string[];
let ctx: JobContext;

function job(fields: Partial<PrepareScoringJob> = {}): Job {
  const data: PrepareScoringJob = {
    scoringId: SCORING,
    category: 'screw',
    version: null,
    input: 'store:batches/screw/',
    chunkSize: 2,
    createdAt: '',
    ...fields,
  };
  return { id: SCORING, name: 'PrepareScoring', data } as unknown as Job;
}

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'prepare-scoring-'));
  store = new LocalBlobStore(root);
  const registry = new ModelRegistry(store);
  await publishModel(registry, 'screw', 'v1', tinyModel());
  for (const name of ['a.png', 'b.png', 'c.png', 'd/e.png', 'f.png']) await store.put(`batches/screw/${name}`, 'png');
  flows = [];
  acquired = [];
  const scorers = {
    acquire: async (category: string, version: string) => {
      acquired.push(`${category}/${version}`);
      return { value: fakeScorer(), done: () => undefined };
    },
  };
  const scoringRuns = { addFlow: async (plan: ScoringPlan) => void flows.push(plan) };
  ctx = {
    log: createFleetLogger({ LOG_LEVEL: 'silent' }, 'worker'),
    config: loadFleetConfig({ SCORING_MAX_INPUTS: '5' }),
    store,
    registry,
    scorers,
    scoringRuns,
  } as unknown as JobContext;
});
afterEach(() => fs.rm(root, { recursive: true, force: true }));

describe('prepareScoringHandler', () => {
  it('resolves the current version, writes the plan in ceil(images / chunkSize) even chunks and queues its flow', async () => {
    expect(await prepareScoringHandler(job(), ctx)).toEqual({ version: 'v1', images: 5, chunks: 3 });
    expect(acquired).toEqual(['screw/v1']);
    const plan = JSON.parse((await store.get(scoringPlanKey(SCORING))).toString('utf8')) as ScoringPlan;
    expect(plan).toMatchObject({ scoringId: SCORING, category: 'screw', version: 'v1', source: 'store' });
    expect(plan.chunks.map((chunk) => chunk.map((item) => item.file))).toEqual([['a.png'], ['b.png', 'c.png'], ['d/e.png', 'f.png']]);
    expect(plan.chunks[2][0].key).toBe('batches/screw/d/e.png');
    expect(flows).toEqual([plan]);
  });

  it("unpacks an uploaded archive into the scoring's input prefix and plans its entries", async () => {
    const pack = tar.pack();
    for (const name of ['x.png', 'y.png', 'z.png']) pack.entry({ name }, 'png');
    pack.finalize();
    const upload = `${scoringUploadPrefix(SCORING)}000-batch.tar`;
    await store.put(upload, await buffer(pack));
    expect(await prepareScoringHandler(job({ input: `store:${upload}`, chunkSize: 3 }), ctx)).toEqual({ version: 'v1', images: 3, chunks: 1 });
    expect(flows[0].chunks).toEqual([['x.png', 'y.png', 'z.png'].map((file) => ({ file, key: `${scoringInputPrefix(SCORING)}${file}` }))]);
  });

  it('refuses an empty input without retries, naming it, and queues nothing', async () => {
    const refused = prepareScoringHandler(job({ input: 'store:batches/none/' }), ctx);
    await expect(refused).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(refused).rejects.toThrow('input store:batches/none/: no files to score');
    expect(flows).toEqual([]);
  });

  it('refuses an input with more files than SCORING_MAX_INPUTS without retries, naming it', async () => {
    await store.put('batches/screw/g.png', 'png');
    const refused = prepareScoringHandler(job(), ctx);
    await expect(refused).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(refused).rejects.toThrow(/input store:batches\/screw\/: more than 5 files/);
    expect(await store.head(scoringPlanKey(SCORING))).toBeNull();
  });

  it('refuses a category without models without retries', async () => {
    const refused = prepareScoringHandler(job({ category: 'bolt' }), ctx);
    await expect(refused).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(refused).rejects.toThrow(/bolt/);
    expect(acquired).toEqual([]);
  });

  it('fails a payload its contract refuses without retries', async () => {
    await expect(prepareScoringHandler(job({ chunkSize: 0 }), ctx)).rejects.toBeInstanceOf(UnrecoverableError);
  });
});
