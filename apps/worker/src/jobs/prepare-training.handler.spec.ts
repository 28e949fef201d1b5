import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Job, UnrecoverableError } from 'bullmq';
import * as tar from 'tar-stream';
import { PrepareTrainingJob, TrainingPlan, loadFleetConfig } from '@padim-fleet/contracts';
import { LocalBlobStore, runImagesPrefix, runUploadPrefix } from '@padim-fleet/storage';
import { png } from '../../../../libs/archives/src/testing/archive-spec-helpers';
import type { JobContext } from './job-context';
import { prepareTrainingHandler } from './prepare-training.handler';
import { createFleetLogger } from '@padim-fleet/fleet';

const RUN = '5f1c7a2e-0000-4000-8000-000000000005';
const ARCHIVE_KEY = `${runUploadPrefix(RUN)}archive`;

let root: string;
let store: LocalBlobStore;
let submitted: TrainingPlan[];
let alreadySubmitted: boolean;
let cancelled: boolean;
let ctx: JobContext;

async function storeTar(names: string[]): Promise<void> {
  const pack = tar.pack();
  for (const name of names) pack.entry({ name }, png(64));
  pack.finalize();
  await store.put(ARCHIVE_KEY, await buffer(pack));
}

async function keys(prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const info of store.list(prefix)) found.push(info.key.slice(prefix.length));
  return found.sort();
}

const job = () => {
  const data: PrepareTrainingJob = {
    runId: RUN,
    createdAt: '2026-12-01T00:00:00.000Z',
    request: { category: 'screw' } as never,
    archive: { key: ARCHIVE_KEY, name: 'screw.tar' },
  };
  return { id: RUN, name: 'PrepareTraining', data } as unknown as Job;
};

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'prepare-training-'));
  store = new LocalBlobStore(root);
  submitted = [];
  alreadySubmitted = false;
  cancelled = false;
  const trainingRuns = {
    submitted: async () => alreadySubmitted,
    extractWorkerCount: async () => 2,
    submit: async (plan: TrainingPlan) => void submitted.push(plan),
  };
  const redis = { mget: async () => [cancelled ? '1' : null, null] };
  ctx = { log: createFleetLogger({ LOG_LEVEL: 'silent' }, 'worker'), config: loadFleetConfig({}), store, redis, trainingRuns } as unknown as JobContext;
});
afterEach(() => fs.rm(root, { recursive: true, force: true }));

describe('prepareTrainingHandler', () => {
  it("unpacks the archive into the run's images, queues the plan of them and removes the archive", async () => {
    const names = Array.from({ length: 10 }, (_, i) => `good/${i}.png`);
    await storeTar(names);
    const answer = await prepareTrainingHandler(job(), ctx);
    const [plan] = submitted;
    expect(answer).toEqual({ images: 10, shards: plan.shards.length });
    expect(plan).toMatchObject({ runId: RUN, createdAt: '2026-12-01T00:00:00.000Z', request: { category: 'screw' } });
    expect(plan.shards.flat().concat(plan.heldOut).sort()).toEqual(names.map((n) => `${runImagesPrefix(RUN)}${n}`).sort());
    expect(await keys(runImagesPrefix(RUN))).toEqual(names.sort());
    expect(await store.head(ARCHIVE_KEY)).toBeNull();
  });

  it('only removes the archive on a retry after the flow was queued', async () => {
    await storeTar(['a.png', 'b.png', 'c.png']);
    alreadySubmitted = true;
    expect(await prepareTrainingHandler(job(), ctx)).toEqual({ images: 0, shards: 0 });
    expect(submitted).toEqual([]);
    expect(await keys('')).toEqual([]);
  });

  it('unpacks nothing for a cancelled run, and fails it without retries', async () => {
    await storeTar(['a.png', 'b.png', 'c.png']);
    cancelled = true;
    await expect(prepareTrainingHandler(job(), ctx)).rejects.toThrow(new UnrecoverableError(`run ${RUN} was cancelled`));
    expect(await keys(runImagesPrefix(RUN))).toEqual([]);
  });

  it('fails without retries, keeping none of its entries, for an archive cut short', async () => {
    await storeTar(['a.png', 'b.png', 'c.png']);
    const whole = await store.get(ARCHIVE_KEY);
    await store.put(ARCHIVE_KEY, whole.subarray(0, 1024 + 100));
    const refused = prepareTrainingHandler(job(), ctx);
    await expect(refused).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(refused).rejects.toThrow(/truncated tar/);
    expect(await keys(runImagesPrefix(RUN))).toEqual([]);
    expect(submitted).toEqual([]);
  });

  it('fails without retries an archive too small to train on, calling it "the archive"', async () => {
    await storeTar(['a.png']);
    const refused = prepareTrainingHandler(job(), ctx);
    await expect(refused).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(refused).rejects.toThrow(/the archive/);
    expect(submitted).toEqual([]);
  });
});
