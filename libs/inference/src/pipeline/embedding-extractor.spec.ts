import { readdirSync } from 'node:fs';
import * as path from 'node:path';
import { expect, it } from '@jest/globals';
import { resolveBackbone } from '../backbones/resolve-backbone';
import { randomFloats } from '../testing/random-floats';
import { describeWithShared, sharedPath } from '../testing/shared-data';
import { EmbeddingExtractor, backboneLanes, resolveEmbedding } from './embedding-extractor';
import { accumulateImages, embedImages } from './train-model';

function worstRelative(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1e-3, Math.abs(b[i])));
  return worst;
}

it('shares the threads among the backbone sessions: two on the CPU from two threads, one on CUDA or one thread', () => {
  expect(backboneLanes({ threads: 2 })).toEqual({ sessions: 2, threadsEach: 1 });
  expect(backboneLanes({ threads: 16 })).toEqual({ sessions: 2, threadsEach: 8 });
  expect(backboneLanes({ threads: 1 })).toEqual({ sessions: 1, threadsEach: 1 });
  expect(backboneLanes({ threads: 8, device: 'cuda' })).toEqual({ sessions: 1, threadsEach: 8 });
  expect(backboneLanes({ threads: 3, backboneSessions: 3 })).toEqual({ sessions: 3, threadsEach: 1 });
  expect(() => backboneLanes({ threads: 2, backboneSessions: 0 })).toThrow(/backboneSessions must be a positive integer, got 0/);
});

describeWithShared('EmbeddingExtractor with several backbone sessions', () => {
  const side = 64;

  it('gives each batch its own embeddings, in order, whichever session ran it', async () => {
    const backbone = await resolveBackbone('resnet18');
    const selection = resolveEmbedding(backbone, { d: 12, seed: 7 });
    const one = await EmbeddingExtractor.create(backbone, selection, side, { threads: 1 });
    const two = await EmbeddingExtractor.create(backbone, selection, side, { threads: 2, backboneSessions: 2 });
    try {
      expect([one.lanes, two.lanes]).toEqual([1, 2]);
      const plane = 3 * side * side;
      const batches = [2, 1, 3, 2, 1].map((n, i) => ({ n, data: randomFloats(n * plane, 40 + i) }));
      const alone: Float32Array[] = [];
      for (const b of batches) alone.push(await one.run(b.data, b.n));
      const together = await Promise.all(batches.map((b) => two.run(b.data, b.n)));
      together.forEach((emb, i) => expect(worstRelative(emb, alone[i])).toBeLessThan(1e-5));
    } finally {
      await Promise.all([one.release(), two.release()]);
    }
  }, 60_000);

  it('accumulates and embeds images in the same order as one session', async () => {
    const backbone = await resolveBackbone('resnet18');
    const selection = resolveEmbedding(backbone, { d: 10, seed: 42 });
    const dir = sharedPath('datasets/mvtec-ad/screw/train/good');
    const files = readdirSync(dir)
      .sort()
      .slice(0, 21)
      .map((f) => path.join(dir, f));
    const one = await EmbeddingExtractor.create(backbone, selection, side, { threads: 1 });
    const two = await EmbeddingExtractor.create(backbone, selection, side, { threads: 2, backboneSessions: 2 });
    try {
      const input = { size: side, batchSize: 4 };
      const a = await accumulateImages(files, one, input);
      const b = await accumulateImages(files, two, input);
      expect(b.used).toEqual(a.used);
      expect(b.accumulator.count).toBe(21);
      expect(worstRelative(b.accumulator.mean, a.accumulator.mean)).toBeLessThan(1e-6);
      expect(worstRelative(b.accumulator.comoment, a.accumulator.comoment)).toBeLessThan(1e-6);
      // The Gram path (the default here, d=10 on 16×16 positions) agrees with the float64 kernel, the reference.
      const gram = await accumulateImages(files, one, { ...input, comoments: 'gram' });
      const float64 = await accumulateImages(files, one, { ...input, comoments: 'float64' });
      expect(worstRelative(a.accumulator.comoment, gram.accumulator.comoment)).toBeLessThan(1e-9);
      expect(gram.accumulator.count).toBe(21);
      expect(worstRelative(gram.accumulator.mean, float64.accumulator.mean)).toBeLessThan(1e-9);
      expect(worstRelative(gram.accumulator.comoment, float64.accumulator.comoment)).toBeLessThan(1e-4);

      const ea = await embedImages(one, files.slice(0, 9), input);
      const eb = await embedImages(two, files.slice(0, 9), input);
      expect(eb.batches.map((x) => x.files)).toEqual(ea.batches.map((x) => x.files));
      eb.batches.forEach((x, i) => expect(worstRelative(x.data, ea.batches[i].data)).toBeLessThan(1e-5));
    } finally {
      await Promise.all([one.release(), two.release()]);
    }
  }, 120_000);
});
