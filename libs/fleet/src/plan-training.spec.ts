import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { trainingRequest } from '@padim-fleet/contracts';
import { LocalBlobStore } from '@padim-fleet/storage';
import { DatasetError, checkServerFolder } from './image-source';
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
  const ctx = {
    runId: 'aaaaaaaa-0000-4000-8000-000000000000',
    createdAt: new Date('2026-01-02T03:04:05Z'),
    datasetRoots: [path.join(root, 'allowed')],
    s3: { region: 'us-east-1', forcePathStyle: true },
  };
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('holds out as padim train does and shards the rest', async () => {
    const plan = await planTraining(trainingRequest.parse({ category: 'line', dataset: data, shards: 2 }), ctx);
    expect(plan.heldOut.map((f) => path.basename(f))).toEqual(['03.png', '09.png']);
    expect(plan.shards.map((s) => s.length)).toEqual([5, 5]);
    expect(plan.version).toBe('20260102T030405Z-aaaaaaaa');
  });

  it("warns when the held-out images cannot resolve the threshold rule's target false-positive rate", async () => {
    // 12 images: 2 held out, so rates move in steps of 1/2
    const fine = await planTraining(trainingRequest.parse({ category: 'line', dataset: data, thresholdRule: { fpr: 0.5 } }), ctx);
    expect(planWarnings(fine)).toEqual([]);
    const tooFine = await planTraining(trainingRequest.parse({ category: 'line', dataset: data, thresholdRule: { fpr: 0.05 } }), ctx);
    expect(planWarnings(tooFine)).toEqual([
      expect.stringMatching(/^thresholdRule: fpr 0.05 is finer than 2 normal images resolve \(steps of 1\/2 = 0.5\).*20 or more/),
    ]);
    expect(planWarnings(await planTraining(trainingRequest.parse({ category: 'line', dataset: data }), ctx))).toEqual([]);
  });

  it('refuses folders outside the roots, links out of them, and folders without images', async () => {
    await expect(checkServerFolder('/etc', ctx.datasetRoots, 'dataset')).rejects.toThrow(/dataset: \/etc is not under an allowed dataset root/);
    await expect(checkServerFolder(path.join(root, 'allowed', 'escape'), ctx.datasetRoots, 'dataset')).rejects.toThrow(/not under an allowed dataset root/);
    await expect(checkServerFolder(data, [], 'dataset')).rejects.toThrow(/PADIM_DATASET_ROOTS is empty/);
    await expect(planTraining(trainingRequest.parse({ category: 'line', dataset: path.join(root, 'allowed') + '/nope' }), ctx)).rejects.toThrow(
      /does not exist/,
    );
    mkdirSync(path.join(root, 'allowed', 'empty'));
    await expect(planTraining(trainingRequest.parse({ category: 'line', dataset: path.join(root, 'allowed', 'empty') }), ctx)).rejects.toThrow(
      /dataset: no images under/,
    );
    await expect(planTraining(trainingRequest.parse({ category: 'line', dataset: data, shards: 11 }), ctx)).rejects.toThrow(
      /shards: 11 shards for 10 training images/,
    );
  });

  it('refuses a validation set without defective images before anything is queued', async () => {
    const validation = path.join(root, 'allowed', 'validation-no-defects');
    mkdirSync(path.join(validation, 'test', 'good'), { recursive: true });
    mkdirSync(path.join(validation, 'test', 'crack'));
    writeFileSync(path.join(validation, 'test', 'good', '000.png'), 'x');
    await expect(planTraining(trainingRequest.parse({ category: 'line', dataset: data, validation }), ctx)).rejects.toThrow(
      /^validation: .*test: no defective images: the defect folders \(crack\/\) hold no images; evaluation needs both good and defective images$/,
    );
    writeFileSync(path.join(validation, 'test', 'crack', '000.png'), 'x');
    await expect(planTraining(trainingRequest.parse({ category: 'line', dataset: data, validation }), ctx)).resolves.toMatchObject({
      shards: [expect.any(Array)],
    });
  });

  it('resolves ".." in folders and roots, plans the real path, and refuses a ".." that leaves the roots', async () => {
    const spelled = `${root}/allowed/line/../line`;
    const roots = [`${root}/not-there/../allowed`];
    const plan = await planTraining(trainingRequest.parse({ category: 'line', dataset: spelled }), { ...ctx, datasetRoots: roots });
    expect(plan.source).toEqual({ kind: 'folder', root: realpathSync(data) });
    await expect(checkServerFolder(`${root}/allowed/../outside`, roots, 'dataset')).rejects.toThrow(
      /dataset: .*\/allowed\/\.\.\/outside is not under an allowed dataset root/,
    );
  });

  it('answers the same for paths outside the roots whether they exist or not', async () => {
    const answers: string[] = [];
    for (const folder of ['/etc/shadow', '/root/nonexistent', '/etc', '/no/such/folder']) {
      const error = await checkServerFolder(folder, ctx.datasetRoots, 'dataset').catch((e: Error) => e);
      answers.push((error as Error).message.replace(folder, '<folder>'));
    }
    expect(new Set(answers)).toEqual(new Set(['dataset: <folder> is not under an allowed dataset root (PADIM_DATASET_ROOTS)']));
  });

  it("keeps server folders out of a local store's own prefixes when the store lies under a root", async () => {
    const storeFolder = path.join(root, 'allowed', '.store');
    for (const folder of ['models/line/v1', 'uploads/req', 'data']) mkdirSync(path.join(storeFolder, folder), { recursive: true });
    for (const folder of ['uploads/req', 'models', '', 'models/../uploads/req']) {
      await expect(checkServerFolder(`${storeFolder}/${folder}`, ctx.datasetRoots, 'dataset', storeFolder)).rejects.toThrow(
        /dataset: .* must not name the fleet's own prefixes/,
      );
    }
    symlinkSync(path.join(storeFolder, 'uploads'), path.join(root, 'allowed', 'to-uploads'));
    await expect(checkServerFolder(path.join(root, 'allowed', 'to-uploads'), ctx.datasetRoots, 'dataset', storeFolder)).rejects.toThrow(
      /must not name the fleet's own prefixes/,
    );
    // A folder above the store would list its prefixes too.
    await expect(checkServerFolder(path.join(root, 'allowed'), ctx.datasetRoots, 'dataset', storeFolder)).rejects.toThrow(
      /must not name the fleet's own prefixes/,
    );
    await expect(checkServerFolder(data, ctx.datasetRoots, 'dataset', storeFolder)).resolves.toBe(realpathSync(data));
    await expect(checkServerFolder(path.join(storeFolder, 'data'), ctx.datasetRoots, 'dataset', storeFolder)).resolves.toBe(
      realpathSync(path.join(storeFolder, 'data')),
    );
  });

  describe('validation sets', () => {
    /** An MVTec-style set: test/good, test/crack and ground_truth/crack. */
    const mvtecSet = (dir: string) => {
      for (const [folder, name] of [
        ['test/good', '000.png'],
        ['test/crack', '000.png'],
        ['ground_truth/crack', '000_mask.png'],
      ]) {
        mkdirSync(path.join(dir, folder), { recursive: true });
        writeFileSync(path.join(dir, folder, name), 'x');
      }
    };
    mvtecSet(path.join(root, 'allowed', 'validation'));
    mvtecSet(path.join(root, 'outside', 'validation'));

    it('plans the real path of the set', async () => {
      const plan = await planTraining(trainingRequest.parse({ category: 'line', dataset: data, validation: `${root}/allowed/line/../validation` }), ctx);
      expect(plan.request.validation).toBe(realpathSync(path.join(root, 'allowed', 'validation')));
    });

    it('refuses a set whose test/ or ground_truth/ or a mask links out of the roots', async () => {
      const testLinked = path.join(root, 'allowed', 'test-linked');
      mkdirSync(testLinked);
      symlinkSync(path.join(root, 'outside', 'validation', 'test'), path.join(testLinked, 'test'));
      await expect(planTraining(trainingRequest.parse({ category: 'line', dataset: data, validation: testLinked }), ctx)).rejects.toThrow(
        /validation: .*test-linked\/test is not under an allowed dataset root/,
      );

      const masksLinked = path.join(root, 'allowed', 'masks-linked');
      mvtecSet(masksLinked);
      rmSync(path.join(masksLinked, 'ground_truth'), { recursive: true });
      symlinkSync(path.join(root, 'outside', 'validation', 'ground_truth'), path.join(masksLinked, 'ground_truth'));
      await expect(planTraining(trainingRequest.parse({ category: 'line', dataset: data, validation: masksLinked }), ctx)).rejects.toThrow(
        /validation: .*masks-linked\/ground_truth is not under/,
      );

      const maskLinked = path.join(root, 'allowed', 'mask-linked');
      mvtecSet(maskLinked);
      rmSync(path.join(maskLinked, 'ground_truth', 'crack', '000_mask.png'));
      symlinkSync(
        path.join(root, 'outside', 'validation', 'ground_truth', 'crack', '000_mask.png'),
        path.join(maskLinked, 'ground_truth', 'crack', '000_mask.png'),
      );
      await expect(planTraining(trainingRequest.parse({ category: 'line', dataset: data, validation: maskLinked }), ctx)).rejects.toThrow(
        /validation: .*000_mask\.png is not under/,
      );
    });

    it('refuses a set without both good and defective images before anything is queued', async () => {
      await expect(planTraining(trainingRequest.parse({ category: 'line', dataset: data, validation: data }), ctx)).rejects.toThrow(
        /validation: .*no test\/ folder/,
      );
    });
  });
});

describe('planTraining with DATASET_MAX_IMAGES', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'padim-plan-cap-'));
  const data = path.join(root, 'line');
  mkdirSync(data, { recursive: true });
  for (let i = 0; i < 5; i++) writeFileSync(path.join(data, `${i}.png`), 'x');
  const ctx = {
    runId: 'aaaaaaaa-0000-4000-8000-000000000000',
    createdAt: new Date('2026-01-02T03:04:05Z'),
    datasetRoots: [root],
    s3: { region: 'us-east-1', forcePathStyle: true },
  };
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('refuses a folder or a store prefix with more images than the cap, naming it and the limit', async () => {
    const request = trainingRequest.parse({ category: 'line', dataset: data });
    await expect(planTraining(request, { ...ctx, maxImages: 4 })).rejects.toThrow(
      new DatasetError(`dataset: more than 4 images under ${data} (DATASET_MAX_IMAGES)`),
    );
    expect((await planTraining(request, { ...ctx, maxImages: 5 })).shards.flat().length).toBeGreaterThan(0);

    const store = new LocalBlobStore(path.join(root, 'store'));
    for (let i = 0; i < 5; i++) await store.put(`datasets/line/${i}.png`, Buffer.from('x'));
    const fromStore = trainingRequest.parse({ category: 'line', dataset: 'store:datasets/line/' });
    await expect(planTraining(fromStore, { ...ctx, store, maxImages: 4 })).rejects.toThrow(
      /dataset: more than 4 images under store:datasets\/line\/ \(DATASET_MAX_IMAGES\)/,
    );
    expect((await planTraining(fromStore, { ...ctx, store, maxImages: 5 })).shards.flat()).toHaveLength(5);
  });
});
