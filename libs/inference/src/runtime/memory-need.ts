import { CENTRED_BLOCK_BYTES, DEFAULT_BLOCKED_KERNEL_BYTES, gramMergeBytes, triangleSize } from '@padim-fleet/padim-core';
import { ComomentPath, defaultComomentPath, gramGroupImages } from '../pipeline/comoment-path';
import type { OnnxDevice } from './onnx-session';

/** What one PaDiM model of `positions` patch positions × d takes, in bytes. */
export interface ModelMemory {
  /** float64 mean and packed co-moments (P·(d + d(d+1)/2)·8): what training and each extract shard hold. */
  accumulatorBytes: number;
  /** float32 mean and packed L⁻¹ (P·(d + d(d+1)/2)·4): the model's tensors. */
  factorsBytes: number;
  /**
   * The scorer's Mahalanobis kernel (mahalanobis-kernel.wat's layout): L⁻¹ in blocks of four rows
   * padded to a multiple of four (8·nb(nb+1) floats, nb = ⌈d/4⌉), the means and one group of eight
   * embeddings, per position, float32.
   */
  kernelBytes: number;
  /**
   * Setting the thresholds after a fit (distances by blocks of positions, from the factors where they
   * are): the blocked kernel's wasm memory (at most DEFAULT_BLOCKED_KERNEL_BYTES, at most the kernel's)
   * and the embeddings of one pass of images (thresholdPassBytes, and one batch of eight over).
   */
  thresholdScoringBytes: number;
}

/** Most embeddings held at once by threshold scoring, unless told otherwise. */
export const MAX_THRESHOLD_PASS_BYTES = 256 * 2 ** 20;

/** Embeddings a pass of threshold scoring holds: no more than the whole-model kernel would, and at most MAX_THRESHOLD_PASS_BYTES. */
export function thresholdPassBytes(positions: number, d: number): number {
  const nb = Math.ceil(d / 4);
  return Math.min(MAX_THRESHOLD_PASS_BYTES, positions * (8 * nb * (nb + 1) + 9 * d) * 4);
}

export function modelMemory(positions: number, d: number): ModelMemory {
  const values = positions * (d + triangleSize(d));
  const nb = Math.ceil(d / 4);
  const kernelBytes = positions * (8 * nb * (nb + 1) + 9 * d) * 4;
  const batchEmbeddings = 8 * d * positions * 4;
  return {
    accumulatorBytes: values * 8,
    factorsBytes: values * 4,
    kernelBytes,
    thresholdScoringBytes: Math.min(kernelBytes, DEFAULT_BLOCKED_KERNEL_BYTES) + thresholdPassBytes(positions, d) + batchEmbeddings,
  };
}

/**
 * Peak RSS besides the model's statistics: Node, two backbone sessions (batch 8, 256×256) with their
 * arenas, decoded batches and embeddings in flight. Measured as the peak RSS of extracting 32 screw
 * images with no accumulator (resnet18 0.50 GB, resnet50 1.25 GB) and rounded up; a custom ONNX
 * backbone is taken to need what resnet50 does.
 */
export const BACKBONE_WORKING_BYTES: Readonly<Record<string, number>> = {
  resnet18: 0.6e9,
  resnet50: 1.3e9,
};

export function backboneWorkingBytes(backbone: string): number {
  return BACKBONE_WORKING_BYTES[backbone] ?? BACKBONE_WORKING_BYTES.resnet50;
}

/**
 * What a job holds at its peak. train: the accumulator (the factors are written over it) and the
 * threshold scoring; extract: a shard's accumulator; reduce: the merge blocks, the factors read back
 * and the threshold scoring; score (on the CPU): the kernel, its factors streamed into it a block at a
 * time (loadRegistryKernel), never whole beside it.
 */
export type MemoryRole = 'train' | 'extract' | 'reduce' | 'score';

export interface MemoryNeedInput {
  role: MemoryRole;
  backbone: string;
  positions: number;
  d: number;
  /** The reducer's merge blocks (REDUCE_MEMORY_MB), held besides the factors it writes. @defaultValue 0 */
  reduceBufferBytes?: number;
  /** Where the backbone runs, which sets the default co-moment path. @defaultValue 'cpu' */
  device?: OnnxDevice;
  /** How train and extract sum co-moments: the Gram path holds a group of embeddings. @defaultValue defaultComomentPath(positions, d, device) */
  comoments?: ComomentPath;
}

/**
 * What the Gram path holds besides the accumulator: its group of embeddings (gramGroupImages, float32),
 * their float64 sums, one centred block and one block's merge (gramMergeBytes). The float64 kernel's 16
 * embeddings and the in-graph path's batch are part of the backbone's working memory.
 */
export function gramGroupBytes(positions: number, d: number): number {
  return gramGroupImages(positions, d) * positions * d * 4 + positions * d * 8 + CENTRED_BLOCK_BYTES + gramMergeBytes(d, positions);
}

export interface MemoryNeed {
  bytes: number;
  /** What the bytes are, for error messages: "accumulator 4.97 GB + backbone 1.6 GB". */
  parts: string;
}

/** Most bytes of factors a score worker reads at a time into its kernel. */
export const MAX_FACTOR_LOAD_BLOCK_BYTES = 64 * 2 ** 20;

/** The block a model's factors stream into a kernel by: an eighth of them, at most MAX_FACTOR_LOAD_BLOCK_BYTES. */
export function factorLoadBlockBytes(factorsBytes: number): number {
  return Math.min(MAX_FACTOR_LOAD_BLOCK_BYTES, Math.ceil(factorsBytes / 8));
}

/** Peak memory of one job (see MemoryRole), an upper bound: the parts are added even where they come one after the other. */
export function memoryNeed(m: MemoryNeedInput): MemoryNeed {
  const { accumulatorBytes, factorsBytes, kernelBytes, thresholdScoringBytes } = modelMemory(m.positions, m.d);
  const backbone = backboneWorkingBytes(m.backbone);
  const gramGroup = (m.comoments ?? defaultComomentPath(m.positions, m.d, m.device)) === 'gram' ? gramGroupBytes(m.positions, m.d) : 0;
  const parts: [string, number][] =
    m.role === 'train'
      ? [
          [`accumulator`, accumulatorBytes],
          [`Gram group`, gramGroup],
          [`threshold scoring`, thresholdScoringBytes],
        ]
      : m.role === 'extract'
        ? [
            [`accumulator`, accumulatorBytes],
            [`Gram group`, gramGroup],
          ]
        : m.role === 'reduce'
          ? [
              [`merge blocks`, m.reduceBufferBytes ?? 0],
              [`factors`, factorsBytes],
              [`threshold scoring`, thresholdScoringBytes],
            ]
          : [
              [`scoring kernel`, kernelBytes],
              [`factors streamed in`, factorLoadBlockBytes(factorsBytes)],
            ];
  parts.push([`${m.backbone} backbone and scratch`, backbone]);
  const bytes = parts.reduce((a, [, b]) => a + b, 0);
  return {
    bytes,
    parts: `${m.backbone} d=${m.d}, ${m.positions} positions: ${parts
      .filter(([, b]) => b > 0)
      .map(([name, b]) => `${name} ${gigabytes(b)}`)
      .join(' + ')}`,
  };
}

/** A job needs more memory than the process is allowed: refused before it starts, not killed by the kernel half-way. */
export class InsufficientMemoryError extends Error {
  override name = 'InsufficientMemoryError';
  constructor(
    readonly what: string,
    readonly need: MemoryNeed,
    readonly availableBytes: number,
    readonly setting: string,
  ) {
    super(`${what} needs about ${gigabytes(need.bytes)} of memory (${need.parts}), ${setting} allows ${gigabytes(availableBytes)}`);
  }
}

/** Throws InsufficientMemoryError when `need` exceeds `availableBytes` (what `setting` allows). */
export function assertMemoryFits(what: string, need: MemoryNeed, availableBytes: number, setting: string): void {
  if (need.bytes > availableBytes) throw new InsufficientMemoryError(what, need, availableBytes, setting);
}

export function gigabytes(bytes: number): string {
  return `${(bytes / 1e9).toFixed(2)} GB`;
}
