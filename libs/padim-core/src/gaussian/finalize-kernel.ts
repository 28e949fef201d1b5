import { NotPositiveDefiniteError, singularDiagonalError, triangleSize } from '../linalg';
import { layOutMemory } from '../wasm/kernel-layout';
import { compileWasmModule, growMemoryTo, instantiateWasm, WASM_PAGE_BYTES, type GrowableMemory } from '../wasm/wasm-module';
import { FINALIZE_KERNEL_LAYOUT, FINALIZE_KERNEL_WASM_BASE64 } from './finalize-kernel-wasm';

const BLOCK = FINALIZE_KERNEL_LAYOUT.constants.BLOCK;
/** Wasm32 memory ends at 4 GiB; a dimension whose scratch does not fit below it takes the scalar path. */
const MAX_WASM_BYTES = 2 ** 32 - WASM_PAGE_BYTES;

export interface FinalizeKernelExports extends GrowableMemory {
  finalize(d: number, ld: number, scale: number, reg: number, packedOff: number, cholOff: number, invOff: number, outOff: number): number;
}

/**
 * The finalisation of one position at a time in wasm (finalize-kernel.wat): packed co-moments in,
 * packed L⁻¹ out, bit for bit what choleskyInPlace and invertLowerTriangular give, in lane pairs.
 */
export interface FinalizeKernel {
  readonly dim: number;
  /**
   * Writes the packed L⁻¹ of Σ = M·scale + regularization·I, where M is the packed co-moments at
   * `comoment[from..from+T)`, to `out[to..to+T)`. `comoment` is read whole before `out` is written, so
   * the two may share a buffer. Throws NotPositiveDefiniteError (naming `context`) as choleskyInPlace does.
   */
  finalize(comoment: Float64Array, from: number, scale: number, regularization: number, out: Float64Array | Float32Array, to: number, context?: string): void;
}

/** The regions of finalize-kernel.wat for dimension `d`: ld, the leading dimension of chol and inverse, is d rounded up to a whole BLOCK. */
export function finalizeLayout(d: number) {
  const T = triangleSize(d);
  const ld = Math.ceil(d / BLOCK) * BLOCK;
  const bytes = { packed: T * 8, chol: d * ld * 8, inverse: d * ld * 8, factors: T * 8 };
  return { ld, bytes, ...layOutMemory(FINALIZE_KERNEL_LAYOUT.layouts.position, bytes) };
}

/** The kernel for dimension `d`, or null where WebAssembly SIMD or that much wasm memory is unavailable. */
export function finalizeKernel(d: number): FinalizeKernel | null {
  if (!Number.isInteger(d) || d < 1) throw new RangeError(`finalizeKernel: d must be a positive integer, got ${d}`);
  const T = triangleSize(d);
  const { ld, offsets, total } = finalizeLayout(d);
  if (total > MAX_WASM_BYTES) return null;
  const module = compileWasmModule(FINALIZE_KERNEL_WASM_BASE64);
  const wasm = module && instantiateWasm<FinalizeKernelExports>(module);
  if (!wasm || !growMemoryTo(wasm, total)) return null;
  const packed = new Float64Array(wasm.memory.buffer, offsets.packed, T);
  const factors = new Float64Array(wasm.memory.buffer, offsets.factors, T);
  const chol = new Float64Array(wasm.memory.buffer, offsets.chol, d * ld);
  return {
    dim: d,
    finalize: (comoment, from, scale, regularization, out, to, context) => {
      packed.set(comoment.subarray(from, from + T));
      const failed = wasm.finalize(d, ld, scale, regularization, offsets.packed, offsets.chol, offsets.inverse, offsets.factors);
      if (failed >= d) throw singularDiagonalError(failed - d, chol[(failed - d) * ld + failed - d]);
      if (failed >= 0) throw new NotPositiveDefiniteError(failed, chol[failed * ld + failed], context);
      out.set(factors, to);
    },
  };
}
