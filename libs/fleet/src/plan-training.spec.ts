import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { trainingRequest } from '@padim-fleet/contracts';
import { LocalBlobStore } from '@padim-fleet/storage';
import { DatasetError, checkServerFolder } from './image-source';
import { defaultShardCount, planTraining, splitContiguous } from './plan-training';

describe('splitContiguous', () => {
  it('cuts in order into slices whose sizes differ by at most one', () => {
    const items = Array.from({ length: 22 }, (_, i) => i);
    const parts = splitContiguous(items, 3);
    expect(parts.map((p) => p.length)).toEqual([7, 7, 8]);
    expect(parts.flat()).toEqual(items);
  });
});

describe('defaultShardCount', () => {
  it('gives one shard per extract worker, never below 16 images a shard, and falls back to size', () => {
    expect(defaultShardCount(288, 1)).toBe(1);
    expect(defaultShardCount(288, 4)).toBe(4);
    expect(defaultShardCount(40, 8)).toBe(3);
    expect(defaultShardCount(288, 0)).toBe(5);
    expect(defaultShardCount(100_000, 0)).toBe(16);
  });
});

describe('planTraining on server folders', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'padim-plan-'));
  const data = path.join(root, 'allowed', 'line');
  mkdirSync(data, { recursive: true });
  for (let i = 0; i < 12; i++) writeFileSync(path.join(data, `${String(i).padStart(2, '0')}.png`), 'x');
  writeFileSync(path.join(data, 'notes.txt'), 'x');
  mkdirSync(path.join(root, 'outside'));
  symlinkSync(path.join(root, 'outside'), path.join(root, 'allowed', 'escape'));
  const ctx = { runId: 'aaaaaaaa-0000-4000-8000-000000000000', createdAt: new Date('2026-01-02T03:04:05Z'), datasetRoots: [path.join(root, 'allowed')], s3: { region: 'us-east-1', forcePathStyle: true } };
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('holds out as padim train does and shards the rest', async () => {
    const plan = await planTraining(trainingRequest.parse({ category: 'line', dataset: data, shards: 2 }), ctx);
    expect(plan.heldOut.map((f) => path.basename(f))).toEqual(['03.png', '09.png']);
    expect(plan.shards.map((s) => s.length)).toEqual([5, 5]);
    expect(plan.version).toBe('20260102T030405Z-aaaaaaaa');
  });

  it('refuses folders outside the roots, links out of them, and folders without images', async () => {
    await expect(checkServerFolder('/etc', ctx.datasetRoots, 'dataset')).rejects.toThrow(/dataset: \/etc is not under an allowed dataset root/);
    await expect(checkServerFolder(path.join(root, 'allowed', 'escape'), ctx.datasetRoots, 'dataset')).rejects.toThrow(/not under an allowed dataset root/);
    await expect(checkServerFolder(data, [], 'dataset')).rejects.toThrow(/PADIM_DATASET_ROOTS is empty/);
    await expect(planTraining(trainingRequest.parse({ category: 'line', dataset: path.join(root, 'allowed') + '/nope' }), ctx)).rejects.toThrow(/does not exist/);
    mkdirSync(path.join(root, 'allowed', 'empty'));
    await expect(planTraining(trainingRequest.parse({ category: 'line', dataset: path.join(root, 'allowed', 'empty') }), ctx)).rejects.toThrow(/dataset: no images under/);
    await expect(planTraining(trainingRequest.parse({ category: 'line', dataset: data, shards: 11 }), ctx)).rejects.toThrow(/shards: 11 shards for 10 training images/);
  });
});

describe('planTraining with DATASET_MAX_IMAGES', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'padim-plan-cap-'));
  const data = path.join(root, 'line');
  mkdirSync(data, { recursive: true });
  for (let i = 0; i < 5; i++) writeFileSync(path.join(data, `${i}.png`), 'x');
  const ctx = { runId: 'aaaaaaaa-0000-4000-8000-000000000000', createdAt: new Date('2026-01-02T03:04:05Z'), datasetRoots: [root], s3: { region: 'us-east-1', forcePathStyle: true } };
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('refuses a folder or a store prefix with more images than the cap, naming it and the limit', async () => {
    const request = trainingRequest.parse({ category: 'line', dataset: data });
    await expect(planTraining(request, { ...ctx, maxImages: 4 })).rejects.toThrow(new DatasetError(`dataset: more than 4 images under ${data} (DATASET_MAX_IMAGES)`));
    expect((await planTraining(request, { ...ctx, maxImages: 5 })).shards.flat().length).toBeGreaterThan(0);

    const store = new LocalBlobStore(path.join(root, 'store'));
    for (let i = 0; i < 5; i++) await store.put(`datasets/line/${i}.png`, Buffer.from('x'));
    const fromStore = trainingRequest.parse({ category: 'line', dataset: 'store:datasets/line/' });
    await expect(planTraining(fromStore, { ...ctx, store, maxImages: 4 })).rejects.toThrow(/dataset: more than 4 images under store:datasets\/line\/ \(DATASET_MAX_IMAGES\)/);
    expect((await planTraining(fromStore, { ...ctx, store, maxImages: 5 })).shards.flat()).toHaveLength(5);
  });
});
