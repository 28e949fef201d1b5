import { PythonRandom } from '../random';
import { semiOrthogonalProjection, semiOrthogonalProjection64 } from './semi-orthogonal';

/** WᵀW for a row-major F×d matrix. */
function gram(w: ArrayLike<number>, f: number, d: number): Float64Array {
  const g = new Float64Array(d * d);
  for (let r = 0; r < f; r++)
    for (let i = 0; i < d; i++) {
      const wi = w[r * d + i];
      for (let j = 0; j < d; j++) g[i * d + j] += wi * w[r * d + j];
    }
  return g;
}

function maxDeviationFromIdentity(g: Float64Array, d: number): number {
  let worst = 0;
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) worst = Math.max(worst, Math.abs(g[i * d + j] - (i === j ? 1 : 0)));
  return worst;
}

describe('semiOrthogonalProjection', () => {
  it('matches numpy QR of the same Python gauss draws (sign-normalised)', () => {
    // python3: r=random.Random(5); g=np.array([r.gauss() for _ in range(18)]).reshape(6,3)
    //          q,R=np.linalg.qr(g); q=q*np.sign(np.diag(R)); print(q.ravel().tolist())
    const expected = [
      -0.39763739471911763, -0.7133932089743444, 0.5292533729467317, -0.773763257703648, 0.15429314854244286, -0.18022934657264023, 0.37137086192029634,
      0.024862988709662276, 0.3350740312134318, -0.1700667993647169, 0.35092660730334585, 0.32369766831032876, -0.24904649419761235, 0.1909199005295691,
      -0.30219779147448234, -0.11963165863234816, 0.5541170394085648, 0.6156540894230205,
    ];
    const w = semiOrthogonalProjection64(6, 3, 5);
    expected.forEach((e, i) => expect(Math.abs(w[i] - e)).toBeLessThan(1e-12));
  });

  it('WᵀW = I within 1e-9 in float64 and 1e-3 after the float32 cast (F=448, d=100)', () => {
    const w64 = semiOrthogonalProjection64(448, 100, 42);
    expect(maxDeviationFromIdentity(gram(w64, 448, 100), 100)).toBeLessThan(1e-9);
    const w32 = semiOrthogonalProjection(448, 100, 42);
    expect(w32).toBeInstanceOf(Float32Array);
    expect(w32).toHaveLength(448 * 100);
    expect(maxDeviationFromIdentity(gram(w32, 448, 100), 100)).toBeLessThan(1e-3);
  });

  it('spans the column space of its Gaussian draw: WᵀG is upper triangular with a non-negative diagonal', () => {
    const f = 30;
    const d = 8;
    const rng = new PythonRandom(11);
    const g = Float64Array.from({ length: f * d }, () => rng.gauss());
    const w = semiOrthogonalProjection64(f, d, 11);
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++) {
        let s = 0;
        for (let r = 0; r < f; r++) s += w[r * d + i] * g[r * d + j];
        if (j < i) expect(Math.abs(s)).toBeLessThan(1e-12);
        if (j === i) expect(s).toBeGreaterThan(0);
      }
  });

  it('is deterministic per seed and differs across seeds', () => {
    expect(Array.from(semiOrthogonalProjection(64, 10, 7))).toEqual(Array.from(semiOrthogonalProjection(64, 10, 7)));
    const a = semiOrthogonalProjection(64, 10, 7);
    const b = semiOrthogonalProjection(64, 10, 8);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff += Math.abs(a[i] - b[i]);
    expect(diff).toBeGreaterThan(1);
  });

  it('d = F gives a full orthogonal matrix', () => {
    const w = semiOrthogonalProjection64(12, 12, 3);
    expect(maxDeviationFromIdentity(gram(w, 12, 12), 12)).toBeLessThan(1e-12);
  });

  it('rejects bad arguments', () => {
    expect(() => semiOrthogonalProjection(10, 11, 1)).toThrow(/d=11 must not exceed featureCount=10/);
    expect(() => semiOrthogonalProjection(10, 0, 1)).toThrow(/d must be a positive integer/);
    expect(() => semiOrthogonalProjection(10.5, 3, 1)).toThrow(/featureCount must be a positive integer/);
    expect(() => semiOrthogonalProjection(10, 3, 0.5)).toThrow(/seed must be a safe integer/);
  });
});
