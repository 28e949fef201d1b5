import { layOutMemory } from '../wasm/kernel-layout';
import { compileWasmModule, instantiateWasm } from '../wasm/wasm-module';
import { COMOMENT_KERNEL_LAYOUT, COMOMENT_KERNEL_WASM_BASE64 } from './comoment-kernel-wasm';

/**
 * The f64x2 kernels of comoment-kernel.wat over views of their memory. Wasm can only address its own
 * memory: a staging kernel (comomentKernel) takes each block of positions copied into `m` and copied
 * back; a resident one (residentComoment) holds a whole accumulator's co-moments in `m`.
 */
export interface ComomentKernel {
  /** Packed-upper co-moments, T per position; updated in place by `run`. */
  m: Float64Array;
  /** Samples, [position][B][d]; centred in place by `centre`. */
  x: Float64Array;
  /** δ = batch mean − running mean, [position][d]; set by `centre`. */
  e: Float64Array;
  /** Running means of the block, [position][d]; moved by δ·wb in `centre`. */
  mean: Float64Array;
  /** Largest batch the views hold. */
  maxBatch: number;
  /** Centres x on the batch means and sets e and mean, for the first `positions` positions. */
  centre(positions: number, d: number, B: number, wb: number): void;
  /** M += XᵀX + f·δδᵀ for `positions` positions of x and e, into m's positions from `p0` on. */
  run(positions: number, d: number, B: number, f: number, p0?: number): void;
}

interface KernelExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  comoment(np: number, d: number, B: number, f: number, mOff: number, xOff: number, eOff: number): void;
  centre(np: number, d: number, B: number, invB: number, wb: number, xOff: number, eOff: number, meanOff: number): void;
}

const PAGE_BYTES = 65536;
/** Wasm32 offsets are i32: past this many bytes the scalar path is used rather than an out-of-range offset. */
const MAX_KERNEL_BYTES = 2 ** 31 - PAGE_BYTES;

let exportsCache: KernelExports | null | undefined;
let disabled = false;

/**
 * The shared staging kernel with views sized for blocks of `positions` × (d, B), or null where
 * WebAssembly or its SIMD is unavailable (e.g. --jitless, a CSP without wasm-unsafe-eval); the caller
 * then uses scalar JS. Views from an earlier call are invalid after this one (the memory may grow).
 */
export function comomentKernel(positions: number, d: number, B: number): ComomentKernel | null {
  const wasm = instantiate();
  return wasm && kernelViews(wasm, positions, positions, d, B);
}

/**
 * A kernel of its own whose `m` holds all `positions` co-moments of an accumulator (zero-initialised),
 * with scratch for blocks of `blockPositions` and batches up to `maxBatch`: batches then update the
 * co-moments where they live instead of copying each block in and out (two copies of 165 MB per batch
 * for resnet18 d=100). Its memory is sized once and never grows, so `m` stays valid. Null where wasm
 * is unavailable or the co-moments do not fit a 32-bit memory (resnet50 d=550: 5 GB).
 */
export function residentComoment(positions: number, d: number, blockPositions: number, maxBatch: number): ComomentKernel | null {
  const module = compiledModule();
  const wasm = module && instantiateWasm<KernelExports>(module);
  if (!wasm) return null;
  try {
    return kernelViews(wasm, positions, blockPositions, d, maxBatch);
  } catch {
    return null;
  }
}

/** Lays out m (mPositions·T), x, e and mean in the kernel's memory, growing it if needed. */
function kernelViews(wasm: KernelExports, mPositions: number, blockPositions: number, d: number, maxBatch: number): ComomentKernel | null {
  const T = (d * (d + 1)) / 2;
  const mLen = mPositions * T;
  const xLen = blockPositions * maxBatch * d;
  const eLen = blockPositions * d;
  const { offsets, total: bytes } = layOutMemory(COMOMENT_KERNEL_LAYOUT.layouts.views, {
    m: mLen * 8,
    x: xLen * 8,
    e: eLen * 8,
    mean: eLen * 8,
  });
  if (bytes > MAX_KERNEL_BYTES) return null;
  const have = wasm.memory.buffer.byteLength;
  if (have < bytes) {
    try {
      wasm.memory.grow(Math.ceil((bytes - have) / PAGE_BYTES));
    } catch {
      return null;
    }
  }
  const buffer = wasm.memory.buffer;
  const { m: mOff, x: xOff, e: eOff, mean: meanOff } = offsets;
  return {
    m: new Float64Array(buffer, mOff, mLen),
    x: new Float64Array(buffer, xOff, xLen),
    e: new Float64Array(buffer, eOff, eLen),
    mean: new Float64Array(buffer, meanOff, eLen),
    maxBatch,
    centre: (np, dd, bb, wb) => wasm.centre(np, dd, bb, 1 / bb, wb, xOff, eOff, meanOff),
    run: (np, dd, bb, f, p0 = 0) => wasm.comoment(np, dd, bb, f, mOff + p0 * T * 8, xOff, eOff),
  };
}

/** Test hook: forces the scalar JS path while `off` is true. */
export function disableComomentKernel(off: boolean): void {
  disabled = off;
}

function compiledModule(): object | null {
  return disabled ? null : compileWasmModule(COMOMENT_KERNEL_WASM_BASE64);
}

function instantiate(): KernelExports | null {
  if (disabled) return null;
  if (exportsCache !== undefined) return exportsCache;
  const module = compiledModule();
  exportsCache = null;
  if (module) exportsCache = instantiateWasm<KernelExports>(module);
  return exportsCache;
}
