/**
 * npm run bench:model-load — what a score worker holds while it loads a published model for the CPU:
 * a synthetic model of resnet50 d=550's size (4096 positions at 256×256, 2.49 GB of factors; `--d`,
 * `--grid` for others) is published into a local-folder registry, then loaded in a child process each
 * way, one after the other:
 * - `streamed` (the score worker): the factors stream from storage into the distance kernel
 *   (loadRegistryKernel, by blocks of factorLoadBlockBytes);
 * - `whole` (the earlier way): the tensors are read whole (loadRegistryModel) and then copied into
 *   the kernel, as PadimScorer.create does.
 * Each child scores eight images' worth of random embeddings with its kernel, and prints its peak RSS
 * and seconds; the last line is JSON with both and their ratio. No backbone is loaded: add the
 * backbone's working memory (README, "Memory per backbone and d") for a worker's peak.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadRegistryKernel, loadRegistryModel, publishModel } from '@padim-fleet/fleet';
import { MAX_WHOLE_MODEL_KERNEL_BYTES, factorLoadBlockBytes, resnet50Spec } from '@padim-fleet/inference';
import {
  COVARIANCE_REGULARIZATION,
  MahalanobisKernel,
  ModelManifest,
  createMahalanobisKernel,
  mulberry32,
  parseModelManifest,
  triangleSize,
} from '@padim-fleet/padim-core';
import { LocalBlobStore, ModelRegistry } from '@padim-fleet/storage';
import { peakRssMB, round, runChild } from './bench-common';

function argValue(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** A resnet50-shaped model with random factors (positive diagonal), d channels on a grid × grid map. */
function syntheticModel(d: number, grid: number): { manifest: Omit<ModelManifest, 'tensors'>; tensors: { mean: Float32Array; invCholesky: Float32Array } } {
  const P = grid * grid;
  const T = triangleSize(d);
  const rnd = mulberry32(550);
  const invCholesky = new Float32Array(P * T);
  for (let p = 0, o = 0; p < P; p++) {
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < i; j++) invCholesky[o++] = (rnd() - 0.5) * 0.1;
      invCholesky[o++] = 0.5 + rnd();
    }
  }
  const featureCount = 1792;
  return {
    manifest: {
      format: 'padim-model',
      formatVersion: 1,
      category: 'bench',
      createdAt: new Date().toISOString(),
      backbone: {
        name: 'resnet50',
        outputs: ['layer1', 'layer2', 'layer3'],
        channels: [256, 512, 1024],
        strides: [4, 8, 16],
        normalization: resnet50Spec.normalization,
        onnxSha256: '0'.repeat(64),
      },
      input: { size: grid * 4, crop: null },
      grid: { height: grid, width: grid },
      featureCount,
      embedding: { kind: 'random', d, seed: 42, indices: Array.from({ length: d }, (_, i) => i) },
      regularization: COVARIANCE_REGULARIZATION,
      training: { imageCount: 10, heldOutCount: 2, skipped: [], seconds: 1 },
      thresholds: { image: 1, pixel: 1, min: 0, max: 2, rule: 'holdout-mean-3std', sampleCount: 2 },
    },
    tensors: { mean: Float32Array.from({ length: P * d }, () => rnd()), invCholesky },
  };
}

async function child(way: 'streamed' | 'whole', dir: string): Promise<void> {
  const registry = new ModelRegistry(new LocalBlobStore(dir));
  const started = process.hrtime.bigint();
  const manifest = parseModelManifest(await registry.readManifest('bench', 'v1'));
  const { d } = manifest.embedding;
  const P = manifest.grid.height * manifest.grid.width;
  let kernel: MahalanobisKernel | null;
  if (way === 'streamed') {
    kernel = await loadRegistryKernel(registry, 'bench', 'v1', manifest, {
      maxBytes: MAX_WHOLE_MODEL_KERNEL_BYTES,
      blockBytes: factorLoadBlockBytes(manifest.tensors.invCholesky.bytes),
    });
  } else {
    const { tensors } = await loadRegistryModel(registry, 'bench', 'v1');
    kernel = createMahalanobisKernel(tensors.mean, tensors.invCholesky, d, P, { maxBytes: MAX_WHOLE_MODEL_KERNEL_BYTES });
  }
  if (!kernel) throw new Error('no wasm kernel for this model here');
  const loadSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const rnd = mulberry32(1);
  const embeddings = Float32Array.from({ length: 8 * d * P }, () => rnd());
  const distances = kernel.distances(embeddings, 8);
  console.log(
    JSON.stringify({
      peakRssMB: round(peakRssMB(), 0),
      kernelMB: round(kernel.bytes / 1e6, 0),
      loadSeconds: round(loadSeconds, 2),
      firstDistance: distances[0],
    }),
  );
}

async function main(): Promise<void> {
  const d = argValue('--d', 550);
  const grid = argValue('--grid', 64);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'padim-bench-model-load-'));
  try {
    const model = syntheticModel(d, grid);
    const manifest = await publishModel(new ModelRegistry(new LocalBlobStore(dir)), 'bench', 'v1', model);
    const factorsMB = round((manifest.tensors.mean.bytes + manifest.tensors.invCholesky.bytes) / 1e6, 0);
    const streamed = runChild(__filename, ['--child', 'streamed', dir]);
    const whole = runChild(__filename, ['--child', 'whole', dir]);
    if (streamed.firstDistance !== whole.firstDistance) throw new Error(`the two kernels disagree: ${streamed.firstDistance} vs ${whole.firstDistance}`);
    console.log(`d=${d}, ${grid}×${grid} positions: factors ${factorsMB} MB, kernel ${streamed.kernelMB} MB`);
    console.log(`streamed into the kernel: peak RSS ${streamed.peakRssMB} MB, loaded in ${streamed.loadSeconds} s`);
    console.log(`read whole, then copied:  peak RSS ${whole.peakRssMB} MB, loaded in ${whole.loadSeconds} s`);
    console.log(
      JSON.stringify({
        d,
        positions: grid * grid,
        factorsMB,
        kernelMB: streamed.kernelMB,
        streamedPeakRssMB: streamed.peakRssMB,
        wholePeakRssMB: whole.peakRssMB,
        peakRatio: round(streamed.peakRssMB / whole.peakRssMB),
        streamedLoadSeconds: streamed.loadSeconds,
        wholeLoadSeconds: whole.loadSeconds,
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const childIndex = process.argv.indexOf('--child');
(childIndex >= 0 ? child(process.argv[childIndex + 1] as 'streamed' | 'whole', process.argv[childIndex + 2]) : main()).catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
