import { triangleSize } from '../linalg';

/**
 * Streaming per-position Gaussian statistics, mergeable in any order (Chan, Golub & LeVeque 1979).
 * `count` is shared by all positions because every image contributes one vector per position.
 */
export interface GaussianAccumulator {
  positions: number;
  dim: number;
  count: number;
  /** P*d, position-major: mean[p*d + c]. */
  mean: Float64Array;
  /** P*T packed upper (T = d(d+1)/2), centred co-moment M = Σ (x−μ)(x−μ)ᵀ per position. */
  comoment: Float64Array;
}

export function createGaussianAccumulator(positions: number, dim: number): GaussianAccumulator {
  assertPositiveInteger(positions, 'positions');
  assertPositiveInteger(dim, 'dim');
  return {
    positions,
    dim,
    count: 0,
    mean: new Float64Array(positions * dim),
    comoment: new Float64Array(positions * triangleSize(dim)),
  };
}

/** Merges `b` into `a` in place and returns `a`. */
export function mergeInto(a: GaussianAccumulator, b: GaussianAccumulator): GaussianAccumulator {
  assertSameShape(a, b);
  if (b.count === 0) return a;
  const { f, wb, n } = mergeWeights(a.count, b.count);
  const { positions: P, dim: d } = a;
  const T = triangleSize(d);
  const delta = new Float64Array(d);
  for (let p = 0; p < P; p++) {
    const mo = p * d;
    for (let c = 0; c < d; c++) {
      const dl = b.mean[mo + c] - a.mean[mo + c];
      delta[c] = dl;
      a.mean[mo + c] += dl * wb;
    }
    let k = p * T;
    for (let i = 0; i < d; i++) {
      const di = delta[i] * f;
      for (let j = i; j < d; j++, k++) a.comoment[k] += b.comoment[k] + di * delta[j];
    }
  }
  a.count = n;
  return a;
}

/** Returns a new accumulator holding a merged copy of `a` and `b`; neither input changes. */
export function mergeGaussianAccumulators(a: GaussianAccumulator, b: GaussianAccumulator): GaussianAccumulator {
  assertSameShape(a, b);
  return mergeInto(cloneAccumulator(a), b);
}

export function cloneAccumulator(acc: GaussianAccumulator): GaussianAccumulator {
  return { ...acc, mean: acc.mean.slice(), comoment: acc.comoment.slice() };
}

/** Copy of positions [start, end); the count is unchanged. */
export function sliceAccumulator(acc: GaussianAccumulator, start: number, end: number): GaussianAccumulator {
  assertAccumulator(acc);
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > acc.positions || start >= end) {
    throw new RangeError(`sliceAccumulator: need integers 0 <= start < end <= ${acc.positions}, got [${start}, ${end})`);
  }
  const d = acc.dim;
  const T = triangleSize(d);
  return {
    positions: end - start,
    dim: d,
    count: acc.count,
    mean: acc.mean.slice(start * d, end * d),
    comoment: acc.comoment.slice(start * T, end * T),
  };
}

/**
 * Weights of the pairwise update for counts na + nb = n: the mean moves by δ·nb/n and the co-moment
 * gains δδᵀ·na·nb/n.
 */
export function mergeWeights(na: number, nb: number): { n: number; f: number; wb: number } {
  const n = na + nb;
  if (!Number.isSafeInteger(n)) throw new RangeError(`GaussianAccumulator: count ${na} + ${nb} exceeds 2^53`);
  return { n, f: (na * nb) / n, wb: nb / n };
}

export function assertAccumulator(acc: GaussianAccumulator): void {
  const { positions, dim, count } = acc;
  assertPositiveInteger(positions, 'positions');
  assertPositiveInteger(dim, 'dim');
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`GaussianAccumulator: count must be a non-negative integer, got ${count}`);
  }
  if (acc.mean.length !== positions * dim) {
    throw new RangeError(`GaussianAccumulator: mean has ${acc.mean.length} entries, expected ${positions * dim}`);
  }
  const t = positions * triangleSize(dim);
  if (acc.comoment.length !== t) {
    throw new RangeError(`GaussianAccumulator: comoment has ${acc.comoment.length} entries, expected ${t}`);
  }
}

function assertSameShape(a: GaussianAccumulator, b: GaussianAccumulator): void {
  assertAccumulator(a);
  assertAccumulator(b);
  if (a.positions !== b.positions || a.dim !== b.dim) {
    throw new RangeError(`GaussianAccumulator: cannot merge positions=${b.positions}, dim=${b.dim} into positions=${a.positions}, dim=${a.dim}`);
  }
}

export function assertPositiveInteger(v: number, name: string): void {
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`GaussianAccumulator: ${name} must be a positive integer, got ${v}`);
}
