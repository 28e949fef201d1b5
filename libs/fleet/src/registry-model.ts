import { INV_CHOLESKY_FILE, MEAN_FILE, ModelManifest, ModelTensors, parseModelManifest } from '@padim-fleet/padim-core';
import { ModelNotFoundError, ModelRegistry } from '@padim-fleet/storage';

/** Stored float32 bytes as a Float32Array, copied only when the Buffer is not 4-byte aligned. */
export function float32View(bytes: Buffer): Float32Array {
  const aligned = bytes.byteOffset % 4 === 0 ? bytes : Buffer.from(bytes);
  return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
}

/** `version` as given, or the category's current one; a category without models fails naming it. */
export async function resolveModelVersion(registry: ModelRegistry, category: string, version: string | null | undefined): Promise<string> {
  if (version) return version;
  const current = await registry.getCurrent(category);
  if (!current) throw new ModelNotFoundError(category, undefined, undefined, 'the model registry');
  return current;
}

/** A published model's manifest and tensors, each tensor checked against the manifest's length and SHA-256. */
export async function loadRegistryModel(registry: ModelRegistry, category: string, version: string): Promise<{ manifest: ModelManifest; tensors: ModelTensors }> {
  const manifest = parseModelManifest(await registry.readManifest(category, version));
  const [mean, invCholesky] = await Promise.all([
    registry.readArtifact(category, version, manifest.tensors.mean.file, manifest.tensors.mean),
    registry.readArtifact(category, version, manifest.tensors.invCholesky.file, manifest.tensors.invCholesky),
  ]);
  return { manifest, tensors: { mean: float32View(mean), invCholesky: float32View(invCholesky) } };
}

/**
 * Publishes a model made elsewhere (the in-process trainer, say) as `category/version`: tensors first,
 * the manifest after them, and `current` last when asked.
 */
export async function publishModel(
  registry: ModelRegistry,
  category: string,
  version: string,
  model: { manifest: Omit<ModelManifest, 'tensors'>; tensors: ModelTensors },
  opts: { makeCurrent?: boolean } = {},
): Promise<ModelManifest> {
  const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const { mean, invCholesky } = model.tensors;
  const d = model.manifest.embedding.d;
  const P = model.manifest.grid.height * model.manifest.grid.width;
  const meanEntry = await registry.writeArtifact(category, version, MEAN_FILE, bytes(mean));
  const factorEntry = await registry.writeArtifact(category, version, INV_CHOLESKY_FILE, bytes(invCholesky));
  const manifest: ModelManifest = {
    ...model.manifest,
    category,
    tensors: {
      mean: { file: MEAN_FILE, dtype: 'float32', shape: [P, d], bytes: meanEntry.bytes, sha256: meanEntry.sha256 },
      invCholesky: { file: INV_CHOLESKY_FILE, dtype: 'float32', shape: [P, (d * (d + 1)) / 2], bytes: factorEntry.bytes, sha256: factorEntry.sha256 },
    },
  };
  parseModelManifest(JSON.parse(JSON.stringify(manifest)));
  await registry.writeManifest(category, version, manifest);
  if (opts.makeCurrent ?? true) await registry.setCurrent(category, version);
  return manifest;
}
