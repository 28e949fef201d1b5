import type { GaussianAccumulator } from '@padim-fleet/padim-core';

/** Worst |a − b| of packed co-moments on the scale of their diagonal, √(b_ii·b_jj); a constant channel must match exactly. */
export function worstScaledError(a: Pick<GaussianAccumulator, 'comoment'>, b: Pick<GaussianAccumulator, 'comoment' | 'positions' | 'dim'>): number {
  const { positions: P, dim: d } = b;
  const T = (d * (d + 1)) / 2;
  let worst = 0;
  for (let p = 0; p < P; p++) {
    const diagonal = (i: number) => b.comoment[p * T + i * d - (i * (i - 1)) / 2];
    let k = p * T;
    for (let i = 0; i < d; i++) {
      for (let j = i; j < d; j++, k++) {
        const error = Math.abs(a.comoment[k] - b.comoment[k]);
        if (error > 0) worst = Math.max(worst, error / Math.sqrt(diagonal(i) * diagonal(j)));
      }
    }
  }
  return worst;
}

/** Worst |a − b| relative to the largest |b| of the same position's factor (or mean). */
export function worstFactorError(a: ArrayLike<number>, b: ArrayLike<number>, P: number): number {
  const T = a.length / P;
  let worst = 0;
  for (let p = 0; p < P; p++) {
    let scale = 0;
    for (let k = p * T; k < (p + 1) * T; k++) scale = Math.max(scale, Math.abs(b[k]));
    for (let k = p * T; k < (p + 1) * T; k++) worst = Math.max(worst, Math.abs(a[k] - b[k]) / scale);
  }
  return worst;
}
