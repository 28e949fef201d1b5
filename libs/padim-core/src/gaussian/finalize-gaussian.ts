import { choleskyInPlace, invertLowerTriangular, packLower, triangleSize } from '../linalg';
import { finalizeKernel, type FinalizeKernel } from './finalize-kernel';
import { assertAccumulator, type GaussianAccumulator } from './gaussian-accumulator';

export interface FinalizedGaussian {
  positions: number;
  dim: number;
  count: number;
  /** P*d, position-major. */
  mean: Float64Array;
  /** P*T, packed lower L⁻¹ per position, where Σ = L·Lᵀ; the squared distance is ‖L⁻¹(x−μ)‖². */
  invCholesky: Float64Array;
}

export interface Float32Gaussian {
  positions: number;
  dim: number;
  count: number;
  mean: Float32Array;
  invCholesky: Float32Array;
}

/** Added to every covariance diagonal, as anomalib's PaDiM does: what a model is fitted with unless told otherwise. */
export const COVARIANCE_REGULARIZATION = 0.01;

export interface FinalizeGaussianOptions {
  /**
   * Added to the covariance diagonal.
   * @defaultValue COVARIANCE_REGULARIZATION
   */
  regularization?: number;
  /** Index of the accumulator's first position in the whole map, for errors about a slice of it. @defaultValue 0 */
  firstPosition?: number;
  /**
   * Finalise in the wasm SIMD kernel (finalize-kernel.wat) where WebAssembly is available; false takes
   * the scalar choleskyInPlace and invertLowerTriangular, which give the same bits (the reference in tests).
   * @defaultValue true
   */
  wasm?: boolean;
}

/** The checks finalisation makes before any work: at least 2 samples, a finite regularisation ≥ 0. */
export function checkFinalizable(acc: GaussianAccumulator, { regularization = COVARIANCE_REGULARIZATION }: FinalizeGaussianOptions = {}): void {
  assertAccumulator(acc);
  if (acc.count < 2) {
    throw new RangeError(`finalizeGaussian: need at least 2 samples for an unbiased covariance, got count=${acc.count}`);
  }
  if (!Number.isFinite(regularization) || regularization < 0) {
    throw new RangeError(`finalizeGaussian: regularization must be a finite number >= 0, got ${regularization}`);
  }
}

/**
 * Per position: Σ = M/(n−1) + regularization·I (ddof = 1, as numpy.cov and anomalib), Σ = L·Lᵀ,
 * and L⁻¹ packed lower. Throws if count < 2 or a covariance is not positive definite, naming the
 * position.
 */
export function finalizeGaussian(acc: GaussianAccumulator, opts: FinalizeGaussianOptions = {}): FinalizedGaussian {
  const invCholesky = new Float64Array(acc.positions * triangleSize(acc.dim));
  finalizeInto(acc, opts, invCholesky);
  return { positions: acc.positions, dim: acc.dim, count: acc.count, mean: acc.mean.slice(), invCholesky };
}

/**
 * finalizeGaussian rounded to float32 as it goes (the same values as toFloat32Gaussian of it), so the
 * float64 factors of all positions never exist at once: for resnet18 d=100 that is 165 MB less.
 */
export function finalizeGaussianFloat32(acc: GaussianAccumulator, opts: FinalizeGaussianOptions = {}): Float32Gaussian {
  const invCholesky = new Float32Array(acc.positions * triangleSize(acc.dim));
  finalizeInto(acc, opts, invCholesky);
  return { positions: acc.positions, dim: acc.dim, count: acc.count, mean: Float32Array.from(acc.mean), invCholesky };
}

/**
 * finalizeGaussianFloat32 written over the accumulator's own co-moments, which it consumes: the float32
 * factors of position p take bytes [4pT, 4(p+1)T) of the co-moment buffer, which hold only co-moments of
 * positions ≤ p, already read. No second buffer: for resnet50 d=550 that is 2.5 GB less at the peak.
 * The accumulator is left with no co-moments (any later use of it fails its shape check); the factors
 * keep its whole buffer alive.
 */
export function finalizeGaussianInPlace(acc: GaussianAccumulator, opts: FinalizeGaussianOptions = {}): Float32Gaussian {
  const invCholesky = factorsOverComoments(acc);
  finalizeInto(acc, opts, invCholesky);
  return consumeAccumulator(acc, invCholesky);
}

/** The float32 view, over the start of the accumulator's co-moment buffer, that in-place finalisation writes its factors to. */
export function factorsOverComoments(acc: GaussianAccumulator): Float32Array {
  assertAccumulator(acc);
  return new Float32Array(acc.comoment.buffer, acc.comoment.byteOffset, acc.positions * triangleSize(acc.dim));
}

/** The Gaussian whose factors were written over `acc`'s co-moments; `acc` is left without co-moments. */
export function consumeAccumulator(acc: GaussianAccumulator, invCholesky: Float32Array): Float32Gaussian {
  const gaussian = { positions: acc.positions, dim: acc.dim, count: acc.count, mean: Float32Array.from(acc.mean), invCholesky };
  acc.comoment = new Float64Array(0);
  return gaussian;
}

function finalizeInto(acc: GaussianAccumulator, opts: FinalizeGaussianOptions, invCholesky: Float64Array | Float32Array): void {
  checkFinalizable(acc, opts);
  const { regularization = COVARIANCE_REGULARIZATION, firstPosition = 0, wasm = true } = opts;
  const { positions: P, dim: d, count } = acc;
  const T = triangleSize(d);
  const scale = 1 / (count - 1);
  const context = (p: number) => `position ${firstPosition + p}, regularization ${regularization}`;
  const kernel = wasm ? sharedFinalizeKernel(d) : null;
  if (kernel) {
    for (let p = 0; p < P; p++) kernel.finalize(acc.comoment, p * T, scale, regularization, invCholesky, p * T, context(p));
    return;
  }
  const sigma = new Float64Array(d * d);
  const inverse = new Float64Array(d * d);
  const packed = invCholesky instanceof Float64Array ? invCholesky : new Float64Array(T);
  for (let p = 0; p < P; p++) {
    // Fill the lower triangle only; choleskyInPlace reads nothing else.
    let k = p * T;
    for (let i = 0; i < d; i++) {
      for (let j = i; j < d; j++) sigma[j * d + i] = acc.comoment[k++] * scale;
      sigma[i * d + i] += regularization;
    }
    choleskyInPlace(sigma, d, context(p));
    invertLowerTriangular(sigma, d, inverse);
    if (packed === invCholesky) packLower(inverse, d, invCholesky as Float64Array, p * T);
    else {
      packLower(inverse, d, packed, 0);
      invCholesky.set(packed, p * T);
    }
  }
}

let shared: FinalizeKernel | null | undefined;

/**
 * The kernel for `d`, kept for the next call (a finalisation runs slice after slice of positions on the
 * same thread), or null where wasm is unavailable. One of another d replaces it; at d=550 it holds 7 MB.
 */
function sharedFinalizeKernel(d: number): FinalizeKernel | null {
  if (shared?.dim !== d) shared = finalizeKernel(d);
  return shared;
}

export function toFloat32Gaussian(g: FinalizedGaussian): Float32Gaussian {
  return {
    positions: g.positions,
    dim: g.dim,
    count: g.count,
    mean: Float32Array.from(g.mean),
    invCholesky: Float32Array.from(g.invCholesky),
  };
}
