import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { trainingRequest } from '@padim-fleet/contracts';
import { checkServerFolder } from './image-source';
import { defaultShardCount, planTraining, planWarnings, splitContiguous } from './plan-training';

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

  it('warns when the held-out images cannot resolve the threshold rule\'s target false-positive rate', async () => {
    // 12 images: 2 held out, so rates move in steps of 1/2
    const fine = await planTraining(trainingRequest.parse({ category: 'line', dataset: data, thresholdRule: { fpr: 0.5 } }), ctx);
    expect(planWarnings(fine)).toEqual([]);
    const tooFine = await planTraining(trainingRequest.parse({ category: 'line', dataset: data, thresholdRule: { fpr: 0.05 } }), ctx);
    expect(planWarnings(tooFine)).toEqual([expect.stringMatching(/^thresholdRule: fpr 0.05 is finer than 2 normal images resolve \(steps of 1\/2 = 0.5\).*20 or more/)]);
    expect(planWarnings(await planTraining(trainingRequest.parse({ category: 'line', dataset: data }), ctx))).toEqual([]);
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
