import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from '@jest/globals';
import { accumulateGroupByGram, createGaussianAccumulator } from '@padim-fleet/padim-core';
import { resolveBackbone } from '../backbones/resolve-backbone';
import { OnnxGraphBuilder } from '../onnx/onnx-graph-builder';
import { EmbeddingExtractor, resolveEmbedding } from '../pipeline/embedding-extractor';
import { imageBatches } from '../pipeline/image-batches';
import { trainModel } from '../pipeline/train-model';
import { createOnnxSession } from '../runtime/onnx-session';
import { worstFactorError, worstScaledError } from '../testing/accumulator-errors';
import { randomFloats } from '../testing/random-floats';
import { describeWithShared, sharedPath } from '../testing/shared-data';
import { EMBEDDING_OUTPUT } from './embedding-graph';
import { createGramSession } from './gram-graph';
import { GROUP_COMOMENT_OUTPUT, GROUP_MEAN_OUTPUT, appendGroupStatistics, upperTriangleIndices } from './group-statistics-graph';

/** A stand-in embedding graph: its input `x` [N, d, h, w] is the embedding. */
function identityEmbedding(d: number): Uint8Array {
  const g = new OnnxGraphBuilder('identity_embedding');
  g.input('x', 'float', ['N', d, 'h', 'w']);
  g.node('Identity', ['x'], {}, [EMBEDDING_OUTPUT]);
  g.output(EMBEDDING_OUTPUT, 'float', ['N', d, 'h', 'w']);
  return g.toBytes();
}

async function runStatistics(d: number, x: Float32Array, dims: number[]): Promise<{ mean: Float32Array; comoment: Float32Array }> {
  const session = await createOnnxSession(appendGroupStatistics(identityEmbedding(d), d));
  try {
    const out = await session.run({ x: new ort.Tensor('float32', x, dims) });
    expect(session.outputNames).toEqual([GROUP_MEAN_OUTPUT, GROUP_COMOMENT_OUTPUT]);
    return { mean: out[GROUP_MEAN_OUTPUT].data as Float32Array, comoment: out[GROUP_COMOMENT_OUTPUT].data as Float32Array };
  } finally {
    await session.release();
  }
}

function screwFiles(count: number): string[] {
  const dir = sharedPath('datasets/mvtec-ad/screw/train/good');
  return readdirSync(dir)
    .sort()
    .slice(0, count)
    .map((f) => path.join(dir, f));
}

describe('group statistics graph', () => {
  it('lists the upper triangle row by row', () => {
    expect(upperTriangleIndices(3)).toEqual([0, 1, 2, 4, 5, 8]);
  });

  it('hand-checked: samples [1, 2] and [3, 6] at one position give mean [2, 4] and co-moment [[2, 4], [4, 8]]', async () => {
    // [N=2, d=2, h=1, w=1]
    const { mean, comoment } = await runStatistics(2, Float32Array.from([1, 2, 3, 6]), [2, 2, 1, 1]);
    expect(Array.from(mean)).toEqual([2, 4]);
    expect(Array.from(comoment)).toEqual([2, 4, 8]);
  });

  it('gives each position’s mean and centred co-moment as a float64 computation does', async () => {
    const [N, d, h, w] = [5, 4, 2, 3];
    const P = h * w;
    const x = randomFloats(N * d * P, 3, 2, 5);
    const { mean, comoment } = await runStatistics(d, x, [N, d, h, w]);
    const T = (d * (d + 1)) / 2;
    expect([mean.length, comoment.length]).toEqual([P * d, P * T]);
    for (let p = 0; p < P; p++) {
      const mu = Array.from({ length: d }, (_, c) => {
        let s = 0;
        for (let b = 0; b < N; b++) s += x[(b * d + c) * P + p];
        return s / N;
      });
      mu.forEach((m, c) => expect(Math.abs(mean[p * d + c] - m)).toBeLessThan(1e-6 * m));
      let k = p * T;
      for (let i = 0; i < d; i++) {
        for (let j = i; j < d; j++, k++) {
          let s = 0;
          for (let b = 0; b < N; b++) s += (x[(b * d + i) * P + p] - mu[i]) * (x[(b * d + j) * P + p] - mu[j]);
          expect(Math.abs(comoment[p * T + (k - p * T)] - s)).toBeLessThan(1e-5);
        }
      }
    }
  });

  it('refuses a model without an embedding output', () => {
    const g = new OnnxGraphBuilder('other');
    g.input('x', 'float', [1]);
    g.node('Identity', ['x'], {}, ['y']);
    g.output('y', 'float', [1]);
    expect(() => appendGroupStatistics(g.toBytes(), 1)).toThrow(/appendGroupStatistics: the model has no output "embedding" \(outputs: y\)/);
  });
});

describeWithShared('group statistics of screw images in the backbone graph (CPU execution provider)', () => {
  it('equal the two-step path’s (embedding graph, then centring and Gram on the host) within float32 tolerance', async () => {
    const backbone = await resolveBackbone('resnet18');
    const extractor = await EmbeddingExtractor.create(backbone, resolveEmbedding(backbone, { d: 100, seed: 42 }), 256, { threads: 2 });
    const gram = await createGramSession(100);
    try {
      const batches = imageBatches(
        screwFiles(12).map((file) => ({ file })),
        { size: 256, normalization: backbone.spec.normalization, batchSize: 12 },
      );
      const { value: batch } = await batches.next();
      expect(batch.n).toBe(12);
      const fused = await extractor.groupStatistics(batch.tensor, batch.n);
      const twoStep = createGaussianAccumulator(extractor.grid.height * extractor.grid.width, 100);
      await accumulateGroupByGram(twoStep, [{ data: await extractor.run(batch.tensor, batch.n), n: batch.n }], gram.gram);
      const P = twoStep.positions;
      const meanError = worstFactorError(fused.mean, twoStep.mean, P);
      const comomentError = worstScaledError(fused, twoStep);
      console.log(
        `fused vs two-step, 12 screw images, resnet18 d=100 256×256: mean ${meanError.toExponential(2)}, co-moment ${comomentError.toExponential(2)}`,
      );
      expect(meanError).toBeLessThan(1e-5);
      expect(comomentError).toBeLessThan(1e-5);
    } finally {
      await Promise.all([extractor.release(), gram.release()]);
    }
  }, 300_000);

  it('trains a model whose factors match the float64 path’s (40 images, groups of 16)', async () => {
    const backbone = await resolveBackbone('resnet18');
    const files = screwFiles(40);
    const common = {
      category: 'screw',
      files,
      backbone,
      embedding: { d: 100, seed: 42 },
      size: 256,
      holdout: 0,
      skipThresholds: true,
      runtime: { threads: 2 },
    };
    const fused = await trainModel({ ...common, comoments: 'in-graph', groupImages: 16 });
    const reference = await trainModel({ ...common, comoments: 'float64' });
    expect(fused.manifest.training.imageCount).toBe(40);
    const P = fused.manifest.grid.height * fused.manifest.grid.width;
    const meanError = worstFactorError(fused.tensors.mean, reference.tensors.mean, P);
    const factorError = worstFactorError(fused.tensors.invCholesky, reference.tensors.invCholesky, P);
    console.log(`in-graph vs float64 training, 40 screw images: mean ${meanError.toExponential(2)}, inverse Cholesky factor ${factorError.toExponential(2)}`);
    expect(meanError).toBeLessThan(1e-5);
    expect(factorError).toBeLessThan(1e-5);
  }, 600_000);
});
