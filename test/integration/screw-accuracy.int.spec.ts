/**
 * PaDiM-R18 on the real MVTec AD screw category (../shared): accuracy against anomalib's published
 * figures and an independent PyTorch run, and shard-order independence of the statistics on real features.
 */
import {
  EmbeddingExtractor,
  PadimScorer,
  accumulateImages,
  gramGroupImages,
  hostComomentPath,
  evaluateModel,
  listMvtecTestSet,
  resolveBackbone,
  resolveEmbedding,
  resolveTrainingFiles,
  trainModel,
  imageBatches,
} from '@padim-fleet/inference';
import { GaussianAccumulator, accumulateEmbeddings, createGaussianAccumulator, finalizeGaussian, mergeGaussianAccumulators } from '@padim-fleet/padim-core';
import { describeWithShared, sharedPath } from '../../libs/inference/src/testing/shared-data';

const screw = () => sharedPath('datasets', 'mvtec-ad', 'screw');

describeWithShared('PaDiM-R18 on MVTec screw (resnet18, d=100, seed 42, 256x256)', () => {
  jest.setTimeout(15 * 60 * 1000);

  it('reaches the published accuracy and matches the independent PyTorch reference', async () => {
    const backbone = await resolveBackbone('resnet18');
    const { files } = await resolveTrainingFiles(screw());
    expect(files).toHaveLength(320);
    const trained = await trainModel({ category: 'screw', files, backbone, embedding: { d: 100, seed: 42 }, holdout: 0, skipThresholds: true });
    const scorer = await PadimScorer.create({ ...trained.manifest, tensors: undefined as never }, trained.tensors, backbone);
    const { metrics } = await evaluateModel(scorer, await listMvtecTestSet(screw()));
    await scorer.release();
    process.stdout.write(`screw resnet18: ${JSON.stringify(metrics)}\n`);
    expect(metrics.images).toBe(160);
    // anomalib publishes 0.759 / 0.978 for PaDiM-R18 on screw.
    expect(metrics.imageAUROC).toBeGreaterThanOrEqual(0.75);
    expect(metrics.pixelAUROC).toBeGreaterThanOrEqual(0.975);
    // A PyTorch PaDiM with the same weights, channels and float64 statistics: 0.779 / 0.9795 / 0.927 / 0.878.
    expect(Math.abs(metrics.imageAUROC - 0.779)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(metrics.pixelAUROC! - 0.9795)).toBeLessThanOrEqual(0.002);
    expect(Math.abs(metrics.aupro! - 0.927)).toBeLessThanOrEqual(0.002);
    expect(Math.abs(metrics.imageF1 - 0.878)).toBeLessThanOrEqual(0.01);
  });

  it('gives the same statistics for 1, 3 and 7 shards merged in any order (relative difference <= 1e-9)', async () => {
    const backbone = await resolveBackbone('resnet18');
    const { files } = await resolveTrainingFiles(screw());
    const subset = files.slice(0, 21).map((file) => ({ file }));
    const extractor = await EmbeddingExtractor.create(backbone, resolveEmbedding(backbone, { d: 100, seed: 42 }), 256);
    const perImage: Float32Array[] = [];
    for await (const batch of imageBatches(subset, { size: 256, normalization: backbone.spec.normalization, batchSize: 7 })) {
      const emb = await extractor.run(batch.tensor, batch.n);
      const per = emb.length / batch.n;
      for (let i = 0; i < batch.n; i++) perImage.push(emb.slice(i * per, (i + 1) * per));
    }
    await extractor.release();
    const P = extractor.grid.height * extractor.grid.width;
    const shardAccumulators = (shards: number, order: number[]): GaussianAccumulator => {
      const parts = Array.from({ length: shards }, () => createGaussianAccumulator(P, 100));
      order.forEach((img, k) => accumulateEmbeddings(parts[k % shards], perImage[img], 1));
      return parts.reverse().reduce((a, b) => mergeGaussianAccumulators(a, b));
    };
    const identity = perImage.map((_, i) => i);
    const shuffled = [...identity].sort((a, b) => ((a * 7919) % 23) - ((b * 7919) % 23));
    const one = finalizeGaussian(shardAccumulators(1, identity));
    for (const [shards, order] of [
      [3, shuffled],
      [7, identity],
      [7, shuffled.reverse()],
    ] as const) {
      const other = finalizeGaussian(shardAccumulators(shards, [...order]));
      expect(maxRelativeDifference(one.mean, other.mean)).toBeLessThanOrEqual(1e-9);
      expect(maxRelativeDifference(one.invCholesky, other.invCholesky)).toBeLessThanOrEqual(1e-9);
    }
  });

  it('accumulates through the float32 Gram path, the default at d=100, to within 1e-5 of the float64 kernel after finalisation', async () => {
    const backbone = await resolveBackbone('resnet18');
    const { files } = await resolveTrainingFiles(screw());
    const extractor = await EmbeddingExtractor.create(backbone, resolveEmbedding(backbone, { d: 100, seed: 42 }), 256);
    try {
      const P = extractor.grid.height * extractor.grid.width;
      expect(hostComomentPath(P, 100)).toBe('gram');
      // Two whole groups of 128 and a partial one of 64: Chan's update into an empty accumulator and into
      // a full one, with either size of group.
      expect(gramGroupImages(P, 100)).toBe(128);
      expect(files).toHaveLength(320);
      const input = { size: 256, batchSize: 8 };
      const gram = await accumulateImages(files, extractor, { ...input, comoments: 'gram' });
      const float64 = await accumulateImages(files, extractor, { ...input, comoments: 'float64' });
      expect(gram.accumulator.count).toBe(320);
      expect(float64.accumulator.count).toBe(320);
      const a = finalizeGaussian(float64.accumulator);
      const b = finalizeGaussian(gram.accumulator);
      const meanDifference = maxRelativeDifference(a.mean, b.mean);
      const factorDifference = maxRelativeDifference(a.invCholesky, b.invCholesky);
      process.stdout.write(
        `screw resnet18 d=100, 320 images, Gram path against float64: mean ${meanDifference.toExponential(2)}, L⁻¹ ${factorDifference.toExponential(2)}\n`,
      );
      expect(meanDifference).toBeLessThanOrEqual(1e-9);
      expect(factorDifference).toBeLessThanOrEqual(1e-5);
      // Not the same bytes either: the float32 path did run.
      expect(factorDifference).toBeGreaterThan(0);
    } finally {
      await extractor.release();
    }
  });
});

function maxRelativeDifference(a: Float64Array, b: Float64Array): number {
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / scale);
  return worst;
}
