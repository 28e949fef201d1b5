import { expect, it } from '@jest/globals';
import * as path from 'node:path';
import { listMvtecTestSet } from '@padim-fleet/contracts';
import { DEFAULT_BLOCKED_KERNEL_BYTES, ModelThresholds, thresholdsFromNormalScores, thresholdsFromValidation } from '@padim-fleet/padim-core';
import { resolveBackbone } from '../backbones/resolve-backbone';
import { describeWithShared, sharedPath } from '../testing/shared-data';
import { evaluateModel, flattenPixels } from './evaluate-model';
import { ManifestBaseInput, manifestWithThresholds } from './fit-model';
import { PadimScorer, maxOf } from './padim-scorer';
import { scoreImages, scoreImagesInPasses } from './score-images';
import { embedImages, trainModel } from './train-model';

const SCREW = sharedPath('datasets/mvtec-ad/screw');

function expectSameThresholds(got: ModelThresholds, expected: ModelThresholds): void {
  expect(got.rule).toBe(expected.rule);
  expect(got.sampleCount).toBe(expected.sampleCount);
  for (const key of ['image', 'pixel', 'min', 'max'] as const) {
    expect(Math.abs(got[key] - expected[key])).toBeLessThanOrEqual(1e-6 * Math.abs(expected[key]));
  }
}

describeWithShared('manifestWithThresholds (distances by blocks of positions)', () => {
  it('gives the thresholds, scores and maps of the whole-model scorer, on files, embeddings and a validation set', async () => {
    const backbone = await resolveBackbone('resnet18');
    const size = 64;
    const runtime = { threads: 1 };
    const train = Array.from({ length: 12 }, (_, i) => path.join(SCREW, 'train/good', `${String(i).padStart(3, '0')}.png`));
    const trained = await trainModel({ category: 'screw', backbone, files: train, size, embedding: { d: 20 }, holdout: 0, skipThresholds: true, runtime });
    const { manifest, tensors } = trained;
    const model: ManifestBaseInput = {
      category: 'screw',
      backbone,
      selection: manifest.embedding,
      size,
      crop: null,
      grid: manifest.grid,
      regularization: manifest.regularization,
      imageCount: manifest.training.imageCount,
      heldOutCount: 0,
      skipped: [],
    };
    const test = await listMvtecTestSet(SCREW);
    const validation = [...test.filter((t) => t.label === 0).slice(0, 4), ...test.filter((t) => t.label === 1).slice(0, 5)];
    const normals = train.slice(0, 9);

    // Today's path: the whole-model wasm kernel, batch by batch as the images come.
    const whole = await PadimScorer.create({ ...manifest, tensors: undefined as never }, tensors, backbone, runtime);
    const blocked = await PadimScorer.create({ ...manifest, tensors: undefined as never }, tensors, backbone, runtime, {
      extractor: whole.extractor,
      distances: 'blocked',
    });
    try {
      expect(blocked.distancesByPositionBlocks).toBe(true);
      expect(whole.distancesByPositionBlocks).toBe(false);
      expect(blocked.distanceBytes).toBeLessThanOrEqual(DEFAULT_BLOCKED_KERNEL_BYTES);
      const wholeScored = await scoreImages(whole, validation, { batchSize: 4, collectMaps: true });
      // Passes of about three images: several passes, each over batches of four cut short.
      const passBytes = 3 * manifest.embedding.d * blocked.positions * 4;
      const passScored = await scoreImagesInPasses(blocked, validation, { batchSize: 4, collectMaps: true, passBytes });
      expect(passScored.map((r) => r.item)).toEqual(validation);
      passScored.forEach((r, i) => {
        expect(r.score).toBe(wholeScored[i].score);
        expect(r.maxLocation).toEqual(wholeScored[i].maxLocation);
        expect(Array.from(r.map!)).toEqual(Array.from(wholeScored[i].map!));
        expect(r.mask === undefined ? undefined : Array.from(r.mask)).toEqual(wholeScored[i].mask === undefined ? undefined : Array.from(wholeScored[i].mask!));
      });

      // An evaluation with blocked distances (in passes) gives the whole-model scorer's metrics.
      const [wholeEvaluation, blockedEvaluation] = [
        await evaluateModel(whole, validation, { batchSize: 4 }),
        await evaluateModel(blocked, validation, { batchSize: 4 }),
      ];
      expect(blockedEvaluation.metrics).toEqual(wholeEvaluation.metrics);

      // Thresholds on files (the training images: no holdout).
      const wholeNormals = (
        await scoreImages(
          whole,
          normals.map((file) => ({ file })),
          { batchSize: 4 },
        )
      ).map((r) => r.score!);
      const onFiles = await manifestWithThresholds(model, tensors, { backbone, runtime, batchSize: 4 }, normals, whole.extractor);
      expectSameThresholds(onFiles.thresholds, thresholdsFromNormalScores(wholeNormals, 'training'));
      expect(onFiles.thresholds.sampleCount).toBe(9);

      // Thresholds on embeddings already made (a fleet run embeds its held-out images while it fits).
      const embedded = await embedImages(whole.extractor, normals, { size, batchSize: 4 });
      const wholeEmbedded: number[] = [];
      for (const b of embedded.batches) {
        const maps = await whole.anomalyMaps(await whole.distancesFromEmbeddings(b.data, b.n), b.n);
        for (let i = 0; i < b.n; i++) wholeEmbedded.push(maxOf(maps.subarray(i * size * size, (i + 1) * size * size)).value);
      }
      const onEmbeddings = await manifestWithThresholds(model, tensors, { backbone, runtime }, embedded, whole.extractor);
      expectSameThresholds(onEmbeddings.thresholds, thresholdsFromNormalScores(wholeEmbedded, 'training'));

      // F1-optimal thresholds on a validation set with masks.
      const withMasks = wholeScored.filter((r) => r.mask !== undefined && r.mask.some((v) => v !== 0));
      expect(withMasks.length).toBeGreaterThan(0);
      const expected = thresholdsFromValidation(
        wholeScored.map((r) => r.score!),
        wholeScored.map((r) => r.item.label),
        flattenPixels(
          withMasks.map((r) => r.map!),
          withMasks.map((r) => r.mask!),
        ),
      );
      const onValidation = await manifestWithThresholds(model, tensors, { backbone, runtime, validation, batchSize: 4 }, [], whole.extractor);
      expectSameThresholds(onValidation.thresholds, expected);
    } finally {
      await blocked.release();
      await whole.release();
    }
  }, 180_000);

  it('sets a trained model’s thresholds on its held-out images', async () => {
    const backbone = await resolveBackbone('resnet18');
    const files = Array.from({ length: 12 }, (_, i) => path.join(SCREW, 'train/good', `${String(20 + i).padStart(3, '0')}.png`));
    const trained = await trainModel({ category: 'screw', backbone, files, size: 32, embedding: { d: 8 }, holdout: 0.25, runtime: { threads: 1 } });
    expect(trained.manifest.thresholds.rule).toBe('holdout-mean-3std');
    expect(trained.manifest.thresholds.sampleCount).toBe(3);
    expect(trained.manifest.thresholds.image).toBeGreaterThan(0);
  }, 60_000);
});
