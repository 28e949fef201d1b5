import { qr } from '../linalg';
import { PythonRandom } from '../random';

/**
 * Semi-orthogonal projection W (F×d, WᵀW = I) in float64, row-major.
 *
 * Draws an F×d matrix of standard normals in row-major order from `PythonRandom(seed).gauss()`
 * (MT19937 + Box–Muller exactly as CPython's `random.gauss`, so Python can reproduce the draws),
 * takes the thin Householder QR and returns Q with diag(R) >= 0, which makes W unique per seed.
 * A Gaussian matrix has full column rank with probability 1, so Q is Haar-distributed.
 */
export function semiOrthogonalProjection64(featureCount: number, d: number, seed: number): Float64Array {
  if (!Number.isSafeInteger(featureCount) || featureCount < 1) {
    throw new RangeError(`semiOrthogonalProjection: featureCount must be a positive integer, got ${featureCount}`);
  }
  if (!Number.isSafeInteger(d) || d < 1) {
    throw new RangeError(`semiOrthogonalProjection: d must be a positive integer, got ${d}`);
  }
  if (d > featureCount) {
    throw new RangeError(`semiOrthogonalProjection: d=${d} must not exceed featureCount=${featureCount}`);
  }
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`semiOrthogonalProjection: seed must be a safe integer, got ${seed}`);
  }
  const rng = new PythonRandom(seed);
  const gaussian = new Float64Array(featureCount * d);
  for (let i = 0; i < gaussian.length; i++) gaussian[i] = rng.gauss();
  return qr(gaussian, featureCount, d).q;
}

/** `semiOrthogonalProjection64` cast to float32, shape [F, d] row-major. */
export function semiOrthogonalProjection(featureCount: number, d: number, seed: number): Float32Array {
  return Float32Array.from(semiOrthogonalProjection64(featureCount, d, seed));
}
