import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createMahalanobisKernel, mulberry32, triangleSize, ModelManifest } from '@padim-fleet/padim-core';
import { LocalBlobStore, ModelIntegrityError, ModelRegistry } from '@padim-fleet/storage';
import { loadRegistryKernel, publishModel } from './registry-model';
import { tinyModel } from '../../../test/support/tiny-model';

/** tinyModel's manifest at a 5×7 grid and d=9, with a random positive-diagonal L⁻¹. */
function randomModel(seed: number) {
  const base = tinyModel();
  const d = 9;
  const P = 35;
  const rnd = mulberry32(seed);
  const invCholesky = new Float32Array(P * triangleSize(d));
  let o = 0;
  for (let p = 0; p < P; p++) {
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < i; j++) invCholesky[o++] = (rnd() - 0.5) * 0.6;
      invCholesky[o++] = 0.5 + rnd();
    }
  }
  return {
    manifest: { ...base.manifest, grid: { height: 5, width: 7 }, embedding: { kind: 'random' as const, d, seed: 42, indices: [1, 2, 3, 4, 5, 6, 7, 8, 9] } },
    tensors: { mean: Float32Array.from({ length: P * d }, () => rnd()), invCholesky },
  };
}

describe('loadRegistryKernel', () => {
  let scratch: string;
  let registry: ModelRegistry;

  beforeEach(() => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'padim-registry-kernel-'));
    registry = new ModelRegistry(new LocalBlobStore(scratch));
  });

  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  it('streams the factors into a kernel that scores as one built from the loaded tensors, whatever the block size', async () => {
    const model = randomModel(1);
    const manifest: ModelManifest = await publishModel(registry, 'screw', 'v1', model);
    const { d } = manifest.embedding;
    const P = 35;
    const reference = createMahalanobisKernel(model.tensors.mean, model.tensors.invCholesky, d, P)!;
    const rnd = mulberry32(2);
    const embeddings = Float32Array.from({ length: 3 * d * P }, () => rnd() * 2);
    const expected = reference.distances(embeddings, 3);
    // One position a block, an uneven number of positions a block, and all in one.
    for (const blockBytes of [1, 7 * triangleSize(d) * 4 + 5, 1e9]) {
      const kernel = await loadRegistryKernel(registry, 'screw', 'v1', manifest, { blockBytes });
      expect(kernel).not.toBeNull();
      expect(kernel!.distances(embeddings, 3)).toEqual(expected);
    }
  });

  it('fails on a corrupt factor file and on float64 tensors, and gives null before reading when the kernel would not fit', async () => {
    const model = randomModel(3);
    const manifest = await publishModel(registry, 'screw', 'v1', model);
    const bytes = Buffer.from(model.tensors.invCholesky.buffer);
    bytes[1000] ^= 0x40;
    await registry.store.put('models/screw/v1/inv_cholesky.f32', bytes);
    await expect(loadRegistryKernel(registry, 'screw', 'v1', manifest, { blockBytes: 4096 })).rejects.toThrow(ModelIntegrityError);
    await registry.store.delete('models/screw/v1/inv_cholesky.f32');
    expect(await loadRegistryKernel(registry, 'screw', 'v1', manifest, { maxBytes: 1000 })).toBeNull();
    // float64 tensors (a valid manifest, which this build does not read) are refused before anything is read.
    const mean = { ...manifest.tensors.mean, dtype: 'float64' as const, bytes: 2 * manifest.tensors.mean.bytes };
    await expect(loadRegistryKernel(registry, 'screw', 'v1', { ...manifest, tensors: { ...manifest.tensors, mean } })).rejects.toThrow(
      'model screw/v1: mean.f32 is float64; only float32 tensors are read',
    );
  });
});
