import { triangleSize } from '../linalg';
import { layOutMemory } from '../wasm/kernel-layout';
import { compileWasmModule, growMemoryTo, instantiateWasm, WASM_PAGE_BYTES as PAGE_BYTES } from '../wasm/wasm-module';
import { MAHALANOBIS_KERNEL_LAYOUT, MAHALANOBIS_KERNEL_WASM_BASE64 } from './mahalanobis-kernel-wasm';

/**
 * PaDiM distances from resident packed L⁻¹ factors, in wasm f32x4 (mahalanobis-kernel.wat). It replaces
 * a MatMul over unpacked [P, d, d] factors: half the flops, and no unpacked copy.
 */
export interface MahalanobisKernel {
  readonly dim: number;
  readonly positions: number;
  /** Bytes of wasm memory held (factors + means + scratch). */
  readonly bytes: number;
  /** [n, d, P] embeddings (NCHW as onnxruntime emits) → [n, P] distances; `out` optional. Any n ≥ 1. */
  distances(embeddings: Float32Array, n: number, out?: Float32Array): Float32Array;
}

interface KernelExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  group(count: number, d: number, D4: number, P: number, block: number, lOff: number, meanOff: number, yOff: number, eOff: number, oOff: number): void;
}

/** Images per kernel call: two f32x4 lanes of images. */
const GROUP = MAHALANOBIS_KERNEL_LAYOUT.constants.GROUP;
/** Positions gathered together, so each image is read sixteen floats (a cache line) at a time. */
const POSITION_BLOCK = 16;
/** A wasm32 memory holds at most 65536 pages. */
const MAX_MEMORY_BYTES = 2 ** 32;
const DEFAULT_MAX_BYTES = 2 ** 30;

/** Throws a RangeError naming `caller` unless d and P are positive integers and the factors have their sizes. */
function checkFactors(caller: string, mean: Float32Array, invCholesky: Float32Array, d: number, P: number): void {
  for (const [name, v] of [
    ['dim', d],
    ['positions', P],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${caller}: ${name} must be a positive integer, got ${v}`);
  }
  const T = triangleSize(d);
  if (mean.length !== P * d) throw new RangeError(`${caller}: mean has ${mean.length} values, expected P·d = ${P}·${d} = ${P * d}`);
  if (invCholesky.length !== P * T) {
    throw new RangeError(`${caller}: invCholesky has ${invCholesky.length} values, expected P·d(d+1)/2 = ${P}·${T} = ${P * T}`);
  }
}

/**
 * A kernel holding `mean` (P·d, position-major) and `invCholesky` (P·d(d+1)/2, packed lower L⁻¹ per
 * position) in its own wasm memory, sized once here and never grown. Null where WebAssembly SIMD is
 * unavailable or that memory (factors, means and scratch for one group of eight images: `bytes`)
 * would exceed `maxBytes` (default 1 GiB); the caller then computes the distances another way (the
 * scorer: an onnxruntime MatMul over the unpacked factors).
 */
export function createMahalanobisKernel(
  mean: Float32Array,
  invCholesky: Float32Array,
  dim: number,
  positions: number,
  opts: { maxBytes?: number } = {},
): MahalanobisKernel | null {
  checkFactors('createMahalanobisKernel', mean, invCholesky, dim, positions);
  const loader = createMahalanobisKernelLoader(dim, positions, opts);
  if (!loader) return null;
  loader.addFactors(invCholesky);
  return loader.finish(mean);
}

/**
 * Fills a whole-model kernel's memory from factors that arrive a few positions at a time (a model
 * streamed from storage), so that they never sit whole beside the kernel: loading resnet50 d=550 then
 * holds the kernel's 2.6 GB and one block, where reading the factors first held 2.5 GB more.
 */
export interface MahalanobisKernelLoader {
  readonly dim: number;
  readonly positions: number;
  /** Bytes of wasm memory the kernel holds. */
  readonly bytes: number;
  /** Positions whose factors have been added. */
  readonly loaded: number;
  /** Lays out the next positions' packed lower L⁻¹ (a whole number of positions, d(d+1)/2 values each). */
  addFactors(invCholesky: Float32Array): void;
  /** The kernel, once every position's factors are in, with the means (P·d). The loader is spent. */
  finish(mean: Float32Array): MahalanobisKernel;
}

/** A loader for a whole-model kernel of dim × positions; null where createMahalanobisKernel would be. */
export function createMahalanobisKernelLoader(dim: number, positions: number, opts: { maxBytes?: number } = {}): MahalanobisKernelLoader | null {
  const d = dim;
  const P = positions;
  for (const [name, v] of [
    ['dim', d],
    ['positions', P],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`createMahalanobisKernelLoader: ${name} must be a positive integer, got ${v}`);
  }
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const T = triangleSize(d);
  const { D4, S, offsets, total } = mahalanobisLayout(d, P);
  const { L: lOff, mean: meanOff, Y: yOff, E: eOff, out: oOff } = offsets;
  const bytes = Math.ceil(total / PAGE_BYTES) * PAGE_BYTES;
  if (bytes > maxBytes || bytes > MAX_MEMORY_BYTES) return null;
  const wasm = kernelInstance(bytes);
  if (!wasm) return null;
  const buffer = wasm.memory.buffer;
  const lView = new Float32Array(buffer, lOff, P * S);
  let loaded = 0;
  let finished = false;

  return {
    dim: d,
    positions: P,
    bytes,
    get loaded() {
      return loaded;
    },
    addFactors(invCholesky: Float32Array): void {
      if (finished) throw new Error('addFactors: the kernel is already finished');
      const n = invCholesky.length / T;
      if (!Number.isInteger(n) || loaded + n > P) {
        throw new RangeError(
          `addFactors: invCholesky has ${invCholesky.length} values, not a whole number of positions of d(d+1)/2 = ${T} within the ${P - loaded} left`,
        );
      }
      layOutFactors(lView.subarray(loaded * S, (loaded + n) * S), invCholesky, d, n, D4);
      loaded += n;
    },
    finish(mean: Float32Array): MahalanobisKernel {
      if (finished) throw new Error('finish: the kernel is already finished');
      if (loaded !== P) throw new RangeError(`finish: factors of ${loaded} of ${P} positions were added`);
      if (mean.length !== P * d) throw new RangeError(`finish: mean has ${mean.length} values, expected P·d = ${P}·${d} = ${P * d}`);
      finished = true;
      new Float32Array(buffer, meanOff, P * d).set(mean);
      return wholeModelKernel(wasm, d, P, D4, bytes, { lOff, meanOff, yOff, eOff, oOff });
    },
  };
}

function wholeModelKernel(
  wasm: KernelExports,
  d: number,
  P: number,
  D4: number,
  bytes: number,
  { lOff, meanOff, yOff, eOff, oOff }: { lOff: number; meanOff: number; yOff: number; eOff: number; oOff: number },
): MahalanobisKernel {
  const buffer = wasm.memory.buffer;
  const eView = new Float32Array(buffer, eOff, GROUP * d * P);
  const oView = new Float32Array(buffer, oOff, GROUP * P);
  const dP = d * P;

  return {
    dim: d,
    positions: P,
    bytes,
    distances(embeddings: Float32Array, n: number, out: Float32Array = new Float32Array(n * P)): Float32Array {
      if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`distances: n must be a positive integer, got ${n}`);
      if (embeddings.length !== n * dP) {
        throw new RangeError(`distances: embeddings has ${embeddings.length} values, expected n·d·P = ${n}·${d}·${P} = ${n * dP}`);
      }
      if (out.length !== n * P) throw new RangeError(`distances: out has ${out.length} values, expected n·P = ${n}·${P} = ${n * P}`);
      // One group of eight at a time: the scratch stays one group whatever n is, and a group's images
      // and distances are contiguous in the caller's arrays, so each copy is a single memcpy.
      for (let g0 = 0; g0 < n; g0 += GROUP) {
        const count = Math.min(GROUP, n - g0);
        eView.set(embeddings.subarray(g0 * dP, (g0 + count) * dP));
        wasm.group(count, d, D4, P, POSITION_BLOCK, lOff, meanOff, yOff, eOff, oOff);
        out.set(oView.subarray(0, count * P), g0 * P);
      }
      return out;
    },
  };
}

/** A kernel instance whose memory holds `bytes`; null without WebAssembly SIMD or that much memory. */
function kernelInstance(bytes: number): KernelExports | null {
  const module = compileWasmModule(MAHALANOBIS_KERNEL_WASM_BASE64);
  const wasm = module && instantiateWasm<KernelExports>(module);
  return wasm && growMemoryTo(wasm, bytes) ? wasm : null;
}

/**
 * Distances computed block of positions by block from factors left where they are (e.g. the float32
 * factors a training just wrote over its co-moments): its wasm memory holds one block's factors,
 * means and scratch, `bytes` ≤ maxBytes whatever P, instead of all P positions' factors.
 */
export interface BlockedMahalanobisKernel {
  readonly dim: number;
  readonly positions: number;
  /** Positions per block: each block's factors are laid out into wasm memory once per `distances` call. */
  readonly blockPositions: number;
  /** Bytes of wasm memory held. */
  readonly bytes: number;
  /**
   * [n, P] distances of each batch of [n, d, P] embeddings. All batches are scored block by block,
   * so each block's factors are copied once per call, however many batches it is given.
   */
  distances(batches: readonly { data: Float32Array; n: number }[]): Float32Array[];
}

/** Wasm memory of a blocked kernel unless told otherwise: about 400 positions at d=550. */
export const DEFAULT_BLOCKED_KERNEL_BYTES = 256 * 2 ** 20;

/**
 * A blocked kernel over `mean` and `invCholesky` (same layouts as createMahalanobisKernel's), which
 * it keeps by reference and reads block by block: they must not change while it is in use. The block
 * is the most positions (a multiple of 16 where P allows) whose layout fits `maxBytes` (default
 * DEFAULT_BLOCKED_KERNEL_BYTES). Null without WebAssembly SIMD, or where one position does not fit.
 */
export function createBlockedMahalanobisKernel(
  mean: Float32Array,
  invCholesky: Float32Array,
  dim: number,
  positions: number,
  opts: { maxBytes?: number } = {},
): BlockedMahalanobisKernel | null {
  const d = dim;
  const P = positions;
  checkFactors('createBlockedMahalanobisKernel', mean, invCholesky, d, P);
  const T = triangleSize(d);
  const maxBytes = Math.min(opts.maxBytes ?? DEFAULT_BLOCKED_KERNEL_BYTES, MAX_MEMORY_BYTES);
  const pageBytes = (B: number) => Math.ceil(mahalanobisLayout(d, B).total / PAGE_BYTES) * PAGE_BYTES;
  // A position takes its factors, its mean, and its column of a group's embeddings and distances:
  // start from that share of maxBytes, then step down until the whole layout, scratch included, fits.
  const perPosition = (mahalanobisLayout(d, 1).S + d + GROUP * d + GROUP) * 4;
  let B = Math.min(P, Math.max(1, Math.floor(maxBytes / perPosition)));
  if (B > POSITION_BLOCK && B < P) B -= B % POSITION_BLOCK;
  while (B > 1 && pageBytes(B) > maxBytes) B = B > POSITION_BLOCK ? B - POSITION_BLOCK : B - 1;
  const bytes = pageBytes(B);
  if (bytes > maxBytes) return null;

  const wasm = kernelInstance(bytes);
  if (!wasm) return null;
  const { D4, S, offsets } = mahalanobisLayout(d, B);
  const { L: lOff, mean: meanOff, Y: yOff, E: eOff, out: oOff } = offsets;
  const buffer = wasm.memory.buffer;
  const lView = new Float32Array(buffer, lOff, B * S);
  const meanView = new Float32Array(buffer, meanOff, B * d);
  const eView = new Float32Array(buffer, eOff, GROUP * d * B);
  const oView = new Float32Array(buffer, oOff, GROUP * B);

  return {
    dim: d,
    positions: P,
    blockPositions: B,
    bytes,
    distances(batches: readonly { data: Float32Array; n: number }[]): Float32Array[] {
      for (const { data, n } of batches) {
        if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`distances: n must be a positive integer, got ${n}`);
        if (data.length < n * d * P) throw new RangeError(`distances: embeddings has ${data.length} values, expected n·d·P = ${n}·${d}·${P} = ${n * d * P}`);
      }
      const outs = batches.map(({ n }) => new Float32Array(n * P));
      for (let start = 0; start < P; start += B) {
        const end = Math.min(P, start + B);
        const w = end - start;
        // Same layout as the whole-model kernel's, at w positions: the slots left zero (above the
        // diagonal, rows past d) are the same in every block, so they stay zero from the first.
        layOutFactors(lView, invCholesky.subarray(start * T, end * T), d, w, D4);
        meanView.set(mean.subarray(start * d, end * d));
        for (let b = 0; b < batches.length; b++) {
          const { data, n } = batches[b];
          const out = outs[b];
          for (let g0 = 0; g0 < n; g0 += GROUP) {
            const count = Math.min(GROUP, n - g0);
            // The group's rows (image, channel) cut to this block's positions: [count, d, w].
            for (let r = 0; r < count * d; r++) {
              const from = (g0 * d + r) * P;
              eView.set(data.subarray(from + start, from + end), r * w);
            }
            wasm.group(count, d, D4, w, POSITION_BLOCK, lOff, meanOff, yOff, eOff, oOff);
            for (let i = 0; i < count; i++) out.set(oView.subarray(i * w, (i + 1) * w), (g0 + i) * P + start);
          }
        }
      }
      return outs;
    },
  };
}

/** Packed lower rows → the kernel's blocks of four rows, column-major; `dst` is fresh (zero) memory. */
function layOutFactors(dst: Float32Array, src: Float32Array, d: number, P: number, D4: number): void {
  const T = triangleSize(d);
  let o = 0;
  for (let p = 0; p < P; p++) {
    const base = p * T;
    for (let r = 0; r < D4; r += 4) {
      for (let k = 0; k < 4 && r + k < d; k++) {
        const row = r + k;
        const s = base + (row * (row + 1)) / 2;
        for (let c = 0; c <= row; c++) dst[o + 4 * c + k] = src[s + c];
      }
      o += 4 * (r + 4);
    }
  }
}

/**
 * The kernel's memory for dim `d` and P positions (the `group` layout of mahalanobis-kernel.wat), with
 * D4 (d padded to a multiple of four) and S (f32 of L per position).
 */
export function mahalanobisLayout(d: number, P: number) {
  // Rows padded to a multiple of four, each block of four rows stored column-major up to its last
  // row's diagonal (zeros above it): the kernel then walks L in one sequential run per position.
  const D4 = Math.ceil(d / 4) * 4;
  const nb = D4 / 4;
  const S = 8 * nb * (nb + 1);
  return {
    D4,
    S,
    ...layOutMemory(MAHALANOBIS_KERNEL_LAYOUT.layouts.group, {
      L: P * S * 4,
      mean: P * d * 4,
      Y: POSITION_BLOCK * D4 * GROUP * 4,
      E: GROUP * d * P * 4,
      out: GROUP * P * 4,
    }),
  };
}
