import { triangleSize } from '@padim-fleet/padim-core';

/** What one PaDiM model of `positions` patch positions × d takes, in bytes. */
export interface ModelMemory {
  /** float64 mean and packed co-moments (P·(d + d(d+1)/2)·8): what training and each extract shard hold. */
  accumulatorBytes: number;
  /** float32 mean and packed L⁻¹ (P·(d + d(d+1)/2)·4): what the reducer and the score workers hold. */
  factorsBytes: number;
}

export function modelMemory(positions: number, d: number): ModelMemory {
  const values = positions * (d + triangleSize(d));
  return { accumulatorBytes: values * 8, factorsBytes: values * 4 };
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

/** Which process holds the model: the in-process trainer and extract shards hold the accumulator, the reducer and scorers the factors. */
export type MemoryRole = 'train' | 'extract' | 'reduce' | 'score';

export interface MemoryNeedInput {
  role: MemoryRole;
  backbone: string;
  positions: number;
  d: number;
  /** The reducer's merge blocks (REDUCE_MEMORY_MB), held besides the factors it writes. @defaultValue 0 */
  reduceBufferBytes?: number;
}

export interface MemoryNeed {
  bytes: number;
  /** What the bytes are, for error messages: "accumulator 4.97 GB + backbone 1.6 GB". */
  parts: string;
}

/**
 * Peak memory of one job: training finalises in place, so its peak is the accumulator, not the
 * accumulator and the factors; the reducer streams the merge and holds the factors for the thresholds.
 */
export function memoryNeed(m: MemoryNeedInput): MemoryNeed {
  const { accumulatorBytes, factorsBytes } = modelMemory(m.positions, m.d);
  const backbone = backboneWorkingBytes(m.backbone);
  const parts: [string, number][] =
    m.role === 'train' || m.role === 'extract'
      ? [[`accumulator`, accumulatorBytes]]
      : m.role === 'reduce'
        ? [[`factors`, factorsBytes], [`merge blocks`, m.reduceBufferBytes ?? 0]]
        : [[`factors`, factorsBytes]];
  parts.push([`${m.backbone} backbone and scratch`, backbone]);
  const bytes = parts.reduce((a, [, b]) => a + b, 0);
  return { bytes, parts: `${m.backbone} d=${m.d}, ${m.positions} positions: ${parts.filter(([, b]) => b > 0).map(([name, b]) => `${name} ${gigabytes(b)}`).join(' + ')}` };
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
