import { expect, it } from '@jest/globals';
import {
  createGaussianAccumulator,
  accumulateEmbeddings,
  createMahalanobisKernel,
  finalizeGaussian,
  mahalanobisMapBatch,
  toFloat32Gaussian,
  type ModelManifest,
} from '@padim-fleet/padim-core';
import { resolveBackbone } from '../backbones/resolve-backbone';
import { factorLoadBlockBytes } from '../runtime/memory-need';
import { randomFloats } from '../testing/random-floats';
import { resolveEmbedding } from './embedding-extractor';
import { PadimScorer, type ScorerModelSource } from './padim-scorer';
import { modelManifestBase } from './fit-model';

/** A resnet18 model of d=20 on a 16×16 grid whose Gaussians come from random embeddings: enough to compare distances. */
async function smallModel() {
  const backbone = await resolveBackbone('resnet18');
  const selection = resolveEmbedding(backbone, { d: 20, seed: 3 });
  const side = 64;
  const grid = { height: side / 4, width: side / 4 };
  const P = grid.height * grid.width;
  const acc = createGaussianAccumulator(P, selection.d);
  accumulateEmbeddings(acc, randomFloats(30 * selection.d * P, 5), 30);
  const gaussian = toFloat32Gaussian(finalizeGaussian(acc));
  const base = modelManifestBase({
    category: 'c',
    backbone,
    selection,
    size: side,
    crop: null,
    grid,
    regularization: 0.01,
    imageCount: 30,
    heldOutCount: 0,
    skipped: [],
  });
  return { backbone, selection, side, P, gaussian, base };
}

describe('PadimScorer', () => {
  it('joins concurrent requests into fewer backbone calls, with the results of separate calls', async () => {
    const { backbone, selection, side, P, gaussian, base } = await smallModel();
    const scorer = await PadimScorer.create({ ...base, tensors: undefined as never }, { mean: gaussian.mean, invCholesky: gaussian.invCholesky }, backbone, {
      threads: 1,
    });
    try {
      const plane = 3 * side * side;
      const requests = [1, 2, 1, 3].map((n, i) => ({ n, batch: randomFloats(n * plane, 100 + i) }));
      const alone: Float32Array[] = [];
      for (const r of requests) alone.push(await scorer.patchDistances(r.batch, r.n));
      expect(scorer.backboneCalls).toBe(4);

      const together = await Promise.all(requests.map((r) => scorer.patchDistances(r.batch, r.n)));
      // The first request runs alone; the three that arrive while it runs share one call.
      expect(scorer.backboneCalls).toBe(4 + 2);
      together.forEach((d, i) => {
        expect(d.length).toBe(requests[i].n * P);
        let worst = 0;
        for (let k = 0; k < d.length; k++) worst = Math.max(worst, Math.abs(d[k] - alone[i][k]) / Math.max(1, Math.abs(alone[i][k])));
        expect(worst).toBeLessThan(1e-4);
      });
      // A scorer on a borrowed extractor gives the same distances and leaves it open on release.
      const borrowed = await PadimScorer.create(
        { ...base, tensors: undefined as never },
        { mean: gaussian.mean, invCholesky: gaussian.invCholesky },
        backbone,
        { threads: 1 },
        { extractor: scorer.extractor },
      );
      const again = await borrowed.patchDistances(requests[1].batch, requests[1].n);
      await borrowed.release();
      expect(Array.from(again)).toEqual(Array.from(alone[1]));
      expect((await scorer.patchDistances(requests[0].batch, 1)).length).toBe(P);
      const otherSelection = { ...base, embedding: resolveEmbedding(backbone, { d: 20, seed: 4 }), tensors: undefined as never };
      await expect(
        PadimScorer.create(
          otherSelection,
          { mean: gaussian.mean, invCholesky: gaussian.invCholesky },
          backbone,
          { threads: 1 },
          { extractor: scorer.extractor },
        ),
      ).rejects.toThrow(/shared extractor does not run the backbone, input size and embedding of this model/);
      // The wasm kernel (the CPU default) and onnxruntime's graph (the CUDA path) agree with the float64 reference.
      const onnx = await PadimScorer.create(
        { ...base, tensors: undefined as never },
        { mean: gaussian.mean, invCholesky: gaussian.invCholesky },
        backbone,
        { threads: 1 },
        { extractor: scorer.extractor, distances: 'onnx' },
      );
      try {
        const emb = await scorer.extractor.run(requests[3].batch, requests[3].n);
        const reference = mahalanobisMapBatch(emb, gaussian.mean, gaussian.invCholesky, selection.d, P, requests[3].n);
        for (const distances of [await scorer.distancesFromEmbeddings(emb, 3), await onnx.distancesFromEmbeddings(emb, 3)]) {
          let worst = 0;
          for (let k = 0; k < reference.length; k++) worst = Math.max(worst, Math.abs(distances[k] - reference[k]) / Math.max(1, reference[k]));
          expect(worst).toBeLessThan(1e-4);
        }
        expect(onnx.distanceBytes).toBe(P * (selection.d * selection.d + selection.d) * 4);
      } finally {
        await onnx.release();
      }
      // With two backbone sessions the second request takes the idle one; the last two wait and go together.
      const twoLanes = await PadimScorer.create(
        { ...base, tensors: undefined as never },
        { mean: gaussian.mean, invCholesky: gaussian.invCholesky },
        backbone,
        { threads: 2, backboneSessions: 2 },
      );
      try {
        expect(twoLanes.lanes).toBe(2);
        const parallel = await Promise.all(requests.map((r) => twoLanes.patchDistances(r.batch, r.n)));
        expect(twoLanes.backboneCalls).toBe(3);
        parallel.forEach((d, i) => {
          let worst = 0;
          for (let k = 0; k < d.length; k++) worst = Math.max(worst, Math.abs(d[k] - alone[i][k]) / Math.max(1, Math.abs(alone[i][k])));
          expect(worst).toBeLessThan(1e-4);
        });
      } finally {
        await twoLanes.release();
      }
    } finally {
      await scorer.release();
    }
  }, 60_000);

  it('load streams the factors into a kernel on the CPU, and reads the tensors whole where no kernel can be made', async () => {
    const { backbone, selection, side, P, gaussian, base } = await smallModel();
    const factorBytes = gaussian.invCholesky.byteLength;
    const manifest = { ...base, tensors: { mean: { bytes: gaussian.mean.byteLength }, invCholesky: { bytes: factorBytes } } } as unknown as ModelManifest;
    const asked: string[] = [];
    const source = (kernel: boolean): ScorerModelSource => ({
      kernel: async (opts) => {
        asked.push(`kernel of blocks of ${opts.blockBytes} bytes`);
        return kernel ? createMahalanobisKernel(gaussian.mean, gaussian.invCholesky, selection.d, P, { maxBytes: opts.maxBytes }) : null;
      },
      tensors: async () => {
        asked.push('tensors');
        return { mean: gaussian.mean, invCholesky: gaussian.invCholesky };
      },
    });
    const streamed = await PadimScorer.load(manifest, source(true), backbone, { threads: 1 });
    const whole = await PadimScorer.load(manifest, source(false), backbone, { threads: 1 });
    try {
      const block = `kernel of blocks of ${factorLoadBlockBytes(factorBytes)} bytes`;
      expect(asked).toEqual([block, block, 'tensors']);
      const batch = randomFloats(2 * 3 * side * side, 9);
      expect(Array.from(await streamed.patchDistances(batch, 2))).toEqual(Array.from(await whole.patchDistances(batch, 2)));
    } finally {
      await streamed.release();
      await whole.release();
    }
  }, 60_000);
});
