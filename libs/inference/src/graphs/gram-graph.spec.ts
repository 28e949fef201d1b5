import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { accumulateEmbeddings, accumulateGroupByGram, createGaussianAccumulator, finalizeGaussian, gramBandFloats } from '@padim-fleet/padim-core';
import { resolveBackbone } from '../backbones/resolve-backbone';
import { EmbeddingExtractor, resolveEmbedding } from '../pipeline/embedding-extractor';
import { embedImages } from '../pipeline/train-model';
import { worstFactorError, worstScaledError } from '../testing/accumulator-errors';
import { randomFloats } from '../testing/random-floats';
import { describeWithShared, sharedPath } from '../testing/shared-data';
import { createGramSession } from './gram-graph';

describe('Gram graph', () => {
  it('gives X·Xᵀ per position', async () => {
    const session = await createGramSession(2);
    try {
      // Position 0: rows [1 2 3], [4 5 6]; position 1: rows [1 0 −1], [2 2 2].
      const centred = Float32Array.from([1, 2, 3, 4, 5, 6, 1, 0, -1, 2, 2, 2]);
      const gram = new Float32Array(8);
      await session.gram(centred, 2, 2, 3, gram);
      expect(Array.from(gram)).toEqual([14, 32, 32, 77, 2, 0, 0, 12]);
      await expect(session.gram(centred, 2, 3, 2, gram)).rejects.toThrow(/Gram session is for d=2, got d=3/);
    } finally {
      await session.release();
    }
  });

  it('gives the row bands of X·Xᵀ, band after band, where d makes more than one', async () => {
    const d = 100;
    const B = 3;
    const P = 2;
    const session = await createGramSession(d);
    try {
      const centred = randomFloats(P * d * B, 9, -1, 1);
      const gram = new Float32Array(P * gramBandFloats(d));
      await session.gram(centred, P, d, B, gram);
      // Bands [0, 50) × [0, 100) then [50, 100) × [50, 100), each [P, rows, columns].
      let at = 0;
      for (const [first, last] of [
        [0, 50],
        [50, 100],
      ]) {
        for (let p = 0; p < P; p++) {
          for (let i = first; i < last; i++) {
            for (let j = first; j < d; j++) {
              let s = 0;
              for (let b = 0; b < B; b++) s += centred[(p * d + i) * B + b] * centred[(p * d + j) * B + b];
              expect(Math.abs(gram[at++] - s)).toBeLessThan(1e-5);
            }
          }
        }
      }
      expect(at).toBe(gram.length);
    } finally {
      await session.release();
    }
  });

  it.each([24, 100])('accumulates several groups in blocks as the float64 co-moment kernel does (d=%i)', async (d) => {
    const P = 37;
    const session = await createGramSession(d);
    try {
      const byGram = createGaussianAccumulator(P, d);
      const float64 = createGaussianAccumulator(P, d);
      const groupSizes = [[8, 8], [5], [8, 3, 1]];
      let seed = 1;
      for (const sizes of groupSizes) {
        // Non-negative, mean well above the spread, as post-ReLU features are.
        const group = sizes.map((n) => ({ data: randomFloats(n * d * P, seed++, 2, 5), n }));
        await accumulateGroupByGram(byGram, group, session.gram, { blockPositions: { centred: 10, gram: 4 } });
        for (const b of group) accumulateEmbeddings(float64, b.data, b.n);
      }
      expect(byGram.count).toBe(33);
      for (let k = 0; k < float64.mean.length; k++) expect(Math.abs(byGram.mean[k] - float64.mean[k])).toBeLessThan(1e-12 * Math.abs(float64.mean[k]));
      expect(worstScaledError(byGram, float64)).toBeLessThan(1e-6);
    } finally {
      await session.release();
    }
  });
});

describeWithShared('Gram accumulation on screw features', () => {
  it('finalises to the float64 path’s factors within 1e-5 (resnet18, d=100, 256×256)', async () => {
    const backbone = await resolveBackbone('resnet18', { resnet18Dir: sharedPath('backbones/resnet18-torchvision') });
    const extractor = await EmbeddingExtractor.create(backbone, resolveEmbedding(backbone, { d: 100, seed: 42 }), 256, { threads: 1 });
    const session = await createGramSession(100);
    try {
      const dir = sharedPath('datasets/mvtec-ad/screw/train/good');
      const files = readdirSync(dir)
        .sort()
        .slice(0, 40)
        .map((f) => path.join(dir, f));
      const embedded = await embedImages(extractor, files, { size: 256, batchSize: 8 });
      const P = extractor.grid.height * extractor.grid.width;
      const byGram = createGaussianAccumulator(P, 100);
      const float64 = createGaussianAccumulator(P, 100);
      // Groups of 16, 16 and 8.
      for (let g = 0; g < embedded.batches.length; g += 2) await accumulateGroupByGram(byGram, embedded.batches.slice(g, g + 2), session.gram);
      for (const b of embedded.batches) accumulateEmbeddings(float64, b.data, b.n);
      expect(byGram.count).toBe(40);
      const comomentError = worstScaledError(byGram, float64);
      const factorError = worstFactorError(finalizeGaussian(byGram).invCholesky, finalizeGaussian(float64).invCholesky, P);
      console.log(`screw resnet18 d=100, 40 images: co-moment error ${comomentError.toExponential(2)}, factor error ${factorError.toExponential(2)}`);
      expect(comomentError).toBeLessThan(1e-6);
      expect(factorError).toBeLessThan(1e-5);
    } finally {
      await Promise.all([extractor.release(), session.release()]);
    }
  }, 300_000);
});
