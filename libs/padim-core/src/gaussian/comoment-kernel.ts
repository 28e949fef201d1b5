import { COMOMENT_KERNEL_WASM_BASE64 } from './comoment-kernel-wasm';

/**
 * The f64x2 kernels of comoment-kernel.wat. Wasm can only address its own memory, so the caller
 * stages each block of positions in the views below, runs the kernels and copies M and μ back.
 */
export interface ComomentKernel {
  /** Packed-upper co-moments of the block, T per position; updated in place by `run`. */
  m: Float64Array;
  /** Samples, [position][B][d]; centred in place by `centre`. */
  x: Float64Array;
  /** δ = batch mean − running mean, [position][d]; set by `centre`. */
  e: Float64Array;
  /** Running means of the block, [position][d]; moved by δ·wb in `centre`. */
  mean: Float64Array;
  /** Centres x on the batch means and sets e and mean, for the first `positions` positions. */
  centre(positions: number, d: number, B: number, wb: number): void;
  /** M += XᵀX + f·δδᵀ for the first `positions` positions of the views. */
  run(positions: number, d: number, B: number, f: number): void;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

interface KernelExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  comoment(np: number, d: number, B: number, f: number, mOff: number, xOff: number, eOff: number): void;
  centre(np: number, d: number, B: number, invB: number, wb: number, xOff: number, eOff: number, meanOff: number): void;
}

const PAGE_BYTES = 65536;

let exportsCache: KernelExports | null | undefined;
let disabled = false;

/**
 * A kernel with views sized for `positions` × (d, B), or null where WebAssembly or its SIMD is
 * unavailable (e.g. --jitless, a CSP without wasm-unsafe-eval); the caller then uses scalar JS.
 * Views from an earlier call are invalid after this one.
 */
export function comomentKernel(positions: number, d: number, B: number): ComomentKernel | null {
  const wasm = instantiate();
  if (!wasm) return null;
  const T = (d * (d + 1)) / 2;
  const mLen = positions * T;
  const xLen = positions * B * d;
  const eLen = positions * d;
  const bytes = (mLen + xLen + 2 * eLen + 1) * 8;
  // Wasm32 addresses; past this the scalar path is used rather than an out-of-range offset.
  if (bytes > 2 ** 31) return null;
  const have = wasm.memory.buffer.byteLength;
  if (have < bytes) {
    try {
      wasm.memory.grow(Math.ceil((bytes - have) / PAGE_BYTES));
    } catch {
      return null;
    }
  }
  const buffer = wasm.memory.buffer;
  const xOff = mLen * 8;
  const eOff = xOff + xLen * 8;
  const meanOff = eOff + eLen * 8;
  return {
    m: new Float64Array(buffer, 0, mLen),
    x: new Float64Array(buffer, xOff, xLen),
    e: new Float64Array(buffer, eOff, eLen),
    mean: new Float64Array(buffer, meanOff, eLen),
    centre: (np, dd, bb, wb) => wasm.centre(np, dd, bb, 1 / bb, wb, xOff, eOff, meanOff),
    run: (np, dd, bb, f) => wasm.comoment(np, dd, bb, f, 0, xOff, eOff),
  };
}

/** Test hook: forces the scalar JS path while `off` is true. */
export function disableComomentKernel(off: boolean): void {
  disabled = off;
}

function instantiate(): KernelExports | null {
  if (disabled) return null;
  if (exportsCache !== undefined) return exportsCache;
  exportsCache = null;
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (api) {
    try {
      // Synchronous compile: the module is about 2 KB, below browsers' main-thread limit of 4 KB.
      const module = new api.Module(decodeBase64(COMOMENT_KERNEL_WASM_BASE64));
      exportsCache = new api.Instance(module, {}).exports as unknown as KernelExports;
    } catch {
      // No SIMD support: stay on the scalar path.
    }
  }
  return exportsCache;
}

function decodeBase64(s: string): Uint8Array {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const clean = s.replace(/=+$/, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let o = 0;
  for (let i = 0; i < clean.length; i++) {
    value = ((value << 6) | alphabet.indexOf(clean[i])) & 0xffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (value >> bits) & 0xff;
    }
  }
  return out;
}
