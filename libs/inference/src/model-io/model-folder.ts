import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  INV_CHOLESKY_FILE,
  MANIFEST_FILE,
  MEAN_FILE,
  MahalanobisKernel,
  ModelFormatError,
  assertFloat32Tensors,
  ModelManifest,
  ModelTensors,
  StoredTensor,
  TensorEntry,
  createMahalanobisKernelLoader,
  manifestWithTensors,
  parseModelManifest,
  triangleSize,
} from '@padim-fleet/padim-core';

// Defined in padim-core, so that reading models from the registry needs no inference stack.
export type { ModelTensors };

export interface LoadedModel {
  manifest: ModelManifest;
  tensors: ModelTensors;
}

/** Bytes given to the hash at a time: one update of 2 GiB or more fails ("data is too long"), and resnet50 d=550's factors are 2.5 GB. */
const HASH_CHUNK_BYTES = 256 * 1024 ** 2;

export function sha256Hex(bytes: Uint8Array): string {
  const hash = createHash('sha256');
  for (let at = 0; at < bytes.length; at += HASH_CHUNK_BYTES) hash.update(bytes.subarray(at, at + HASH_CHUNK_BYTES));
  return hash.digest('hex');
}

function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Writes a model folder so that `dir` either holds the complete new model or what it held before:
 * everything is written into a sibling temporary folder, then renamed over `dir`.
 */
export async function writeModelFolder(dir: string, manifest: Omit<ModelManifest, 'tensors'>, tensors: ModelTensors): Promise<ModelManifest> {
  if (manifest.thresholds.rule === 'unset') throw new Error(`model ${dir}: thresholds were never set; refusing to publish`);
  const stored = (a: Float32Array): StoredTensor => ({ bytes: a.byteLength, sha256: sha256Hex(bytesOf(a)) });
  const full = manifestWithTensors(manifest, { mean: stored(tensors.mean), invCholesky: stored(tensors.invCholesky) });
  const parent = path.dirname(path.resolve(dir));
  await fs.mkdir(parent, { recursive: true });
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${randomBytes(6).toString('hex')}`);
  await fs.mkdir(tmp);
  try {
    await fs.writeFile(path.join(tmp, MEAN_FILE), bytesOf(tensors.mean));
    await fs.writeFile(path.join(tmp, INV_CHOLESKY_FILE), bytesOf(tensors.invCholesky));
    await fs.writeFile(path.join(tmp, MANIFEST_FILE), JSON.stringify(full, null, 2) + '\n');
    await replaceDirectory(tmp, dir);
  } catch (error) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw error;
  }
  return full;
}

/** Renames `from` over `to`; an existing `to` is moved aside first and removed only once the new one is in place. */
async function replaceDirectory(from: string, to: string): Promise<void> {
  const old = `${from}.old`;
  let hadOld = false;
  try {
    await fs.rename(to, old);
    hadOld = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  try {
    await fs.rename(from, to);
  } catch (error) {
    if (hadOld) await fs.rename(old, to);
    throw error;
  }
  if (hadOld) await fs.rm(old, { recursive: true, force: true });
}

async function readTensor(dir: string, entry: TensorEntry): Promise<Float32Array> {
  const file = path.join(dir, entry.file);
  let values: Float32Array;
  try {
    const { size } = await fs.stat(file);
    if (size !== entry.bytes) {
      throw new ModelFormatError(`model ${dir}: ${entry.file} has ${size} bytes, the manifest says ${entry.bytes} (truncated or replaced)`);
    }
    values = await readFloat32File(file);
  } catch (error) {
    if (error instanceof ModelFormatError) throw error;
    throw new ModelFormatError(`model ${dir}: cannot read ${entry.file} (${(error as Error).message})`);
  }
  const digest = sha256Hex(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  if (digest !== entry.sha256) {
    throw new ModelFormatError(
      `model ${dir}: ${entry.file} checksum ${digest.slice(0, 12)}… does not match the manifest's ${entry.sha256.slice(0, 12)}… (corrupted)`,
    );
  }
  return values;
}

/**
 * A file of float32 values, read straight into an aligned array a chunk at a time: fs.readFile stops
 * at 2 GiB (resnet50 d=550's factors are 2.5 GB), and its Buffer, which need not be 4-byte aligned,
 * would be copied once more.
 */
export async function readFloat32File(file: string, chunkBytes = 256 * 1024 ** 2): Promise<Float32Array> {
  const handle = await fs.open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size % 4 !== 0) throw new RangeError(`${file} has ${size} bytes, not a whole number of float32 values`);
    const values = new Float32Array(size / 4);
    const bytes = new Uint8Array(values.buffer);
    for (let at = 0; at < size;) {
      const { bytesRead } = await handle.read(bytes, at, Math.min(chunkBytes, size - at), at);
      if (bytesRead === 0) throw new RangeError(`${file} ended after ${at} of ${size} bytes`);
      at += bytesRead;
    }
    return values;
  } finally {
    await handle.close();
  }
}

export async function readModelManifest(dir: string): Promise<ModelManifest> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, MANIFEST_FILE), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelFormatError(code === 'ENOENT' ? `model ${dir}: no ${MANIFEST_FILE} (not a model folder)` : `model ${dir}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelFormatError(`model ${dir}: ${MANIFEST_FILE} is not valid JSON (${(error as Error).message})`);
  }
  try {
    return parseModelManifest(json);
  } catch (error) {
    throw new ModelFormatError(`model ${dir}: ${(error as Error).message}`);
  }
}

/** Reads and verifies a model folder: manifest schema and version, tensor lengths and SHA-256. */
export async function readModelFolder(dir: string): Promise<LoadedModel> {
  const manifest = await readModelManifest(dir);
  assertFloat32Tensors(manifest, dir);
  const [mean, invCholesky] = await Promise.all([readTensor(dir, manifest.tensors.mean), readTensor(dir, manifest.tensors.invCholesky)]);
  return { manifest, tensors: { mean, invCholesky } };
}

/**
 * A model folder's whole-model distance kernel, its factors read from disk straight into the kernel's
 * memory a block of positions at a time (at most `blockBytes`) and checked against the manifest's length
 * and SHA-256 as they are read, as score workers load from the registry: the factors never sit whole
 * beside the kernel. Null, before anything is read, where no such kernel can be made (no WebAssembly
 * SIMD, or over `maxBytes`): readModelFolder then.
 */
export async function readModelFolderKernel(
  dir: string,
  manifest: ModelManifest,
  opts: { maxBytes?: number; blockBytes?: number } = {},
): Promise<MahalanobisKernel | null> {
  assertFloat32Tensors(manifest, dir);
  const d = manifest.embedding.d;
  const P = manifest.grid.height * manifest.grid.width;
  const entry = manifest.tensors.invCholesky;
  const unitBytes = triangleSize(d) * 4;
  const loader = createMahalanobisKernelLoader(d, P, { maxBytes: opts.maxBytes });
  if (!loader) return null;
  const mean = await readTensor(dir, manifest.tensors.mean);
  const file = path.join(dir, entry.file);
  const hash = createHash('sha256');
  const block = new Uint8Array(Math.max(1, Math.floor((opts.blockBytes ?? 64 * 2 ** 20) / unitBytes)) * unitBytes);
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (error) {
    throw new ModelFormatError(`model ${dir}: cannot read ${entry.file} (${(error as Error).message})`);
  }
  try {
    const { size } = await handle.stat();
    if (size !== entry.bytes) {
      throw new ModelFormatError(`model ${dir}: ${entry.file} has ${size} bytes, the manifest says ${entry.bytes} (truncated or replaced)`);
    }
    for (let at = 0; at < size;) {
      const want = Math.min(block.length, size - at);
      for (let filled = 0; filled < want;) {
        const { bytesRead } = await handle.read(block, filled, want - filled, at + filled);
        if (bytesRead === 0) throw new ModelFormatError(`model ${dir}: ${entry.file} ended after ${at + filled} of ${size} bytes`);
        filled += bytesRead;
      }
      const bytes = block.subarray(0, want);
      hash.update(bytes);
      loader.addFactors(new Float32Array(bytes.buffer, bytes.byteOffset, want / 4));
      at += want;
    }
  } finally {
    await handle.close();
  }
  const digest = hash.digest('hex');
  if (digest !== entry.sha256) {
    throw new ModelFormatError(
      `model ${dir}: ${entry.file} checksum ${digest.slice(0, 12)}… does not match the manifest's ${entry.sha256.slice(0, 12)}… (corrupted)`,
    );
  }
  return loader.finish(mean);
}
