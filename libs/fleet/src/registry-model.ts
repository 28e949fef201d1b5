import {
  INV_CHOLESKY_FILE,
  MEAN_FILE,
  ACCUMULATOR_FILE,
  MahalanobisKernel,
  assertFloat32Tensors,
  ModelManifest,
  ModelTensors,
  createMahalanobisKernelLoader,
  manifestWithTensors,
  parseModelManifest,
  triangleSize,
} from '@padim-fleet/padim-core';
import { ModelNotFoundError, ModelRegistry, WrittenArtifact } from '@padim-fleet/storage';

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
export async function loadRegistryModel(
  registry: ModelRegistry,
  category: string,
  version: string,
): Promise<{ manifest: ModelManifest; tensors: ModelTensors }> {
  const manifest = parseModelManifest(await registry.readManifest(category, version));
  assertFloat32Tensors(manifest, `${category}/${version}`);
  const [mean, invCholesky] = await Promise.all([
    registry.readArtifact(category, version, manifest.tensors.mean.file, manifest.tensors.mean),
    registry.readArtifact(category, version, manifest.tensors.invCholesky.file, manifest.tensors.invCholesky),
  ]);
  return { manifest, tensors: { mean: float32View(mean), invCholesky: float32View(invCholesky) } };
}

/**
 * A published model's whole-model distance kernel, its factors streamed from storage straight into the
 * kernel's memory a block of positions at a time and checked against the manifest's length and SHA-256
 * as they flow: the loading worker holds the kernel (2.6 GB for resnet50 d=550) and one block, never the
 * 2.5 GB of factors beside it. Null, before anything is read, where no such kernel can be made (no
 * WebAssembly SIMD, or over `maxBytes`): loadRegistryModel then. Tensors other than float32 are refused.
 */
export async function loadRegistryKernel(
  registry: ModelRegistry,
  category: string,
  version: string,
  manifest: ModelManifest,
  opts: { maxBytes?: number; blockBytes?: number } = {},
): Promise<MahalanobisKernel | null> {
  assertFloat32Tensors(manifest, `${category}/${version}`);
  const d = manifest.embedding.d;
  const P = manifest.grid.height * manifest.grid.width;
  const { mean, invCholesky } = manifest.tensors;
  const loader = createMahalanobisKernelLoader(d, P, { maxBytes: opts.maxBytes });
  if (!loader) return null;
  const meanValues = float32View(await registry.readArtifact(category, version, mean.file, mean));
  await registry.readArtifactInBlocks(
    category,
    version,
    invCholesky.file,
    invCholesky,
    triangleSize(d) * 4,
    (block) => loader.addFactors(new Float32Array(block.buffer, block.byteOffset, block.length / 4)),
    opts.blockBytes,
  );
  return loader.finish(meanValues);
}

/** The files of a fitted model, written or copied into its version: its tensors, and its statistics when kept. */
export interface VersionFiles {
  mean: WrittenArtifact;
  invCholesky: WrittenArtifact;
  /** The accumulator, kept so that a later run can extend the model. */
  accumulator?: WrittenArtifact;
}

/**
 * Publishes `category/version` once its files are in place: writes its manifest (manifestWithTensors),
 * which is what makes the version exist, so it goes in last. Every path that fits a model into the
 * registry ends here: the fleet's reducer, and publishModel for a model trained in process.
 */
export async function publishVersion(
  registry: ModelRegistry,
  category: string,
  version: string,
  manifest: Omit<ModelManifest, 'tensors'>,
  files: VersionFiles,
  lineage?: ModelManifest['lineage'],
): Promise<ModelManifest> {
  const accumulator = files.accumulator && { file: ACCUMULATOR_FILE, bytes: files.accumulator.bytes, sha256: files.accumulator.sha256 };
  const full = manifestWithTensors(manifest, files, { accumulator, lineage });
  await registry.writeManifest(category, version, full);
  return full;
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
  const mean = await registry.writeArtifact(category, version, MEAN_FILE, bytes(model.tensors.mean));
  const invCholesky = await registry.writeArtifact(category, version, INV_CHOLESKY_FILE, bytes(model.tensors.invCholesky));
  const manifest = await publishVersion(registry, category, version, { ...model.manifest, category }, { mean, invCholesky });
  if (opts.makeCurrent ?? true) await registry.setCurrent(category, version);
  return manifest;
}
