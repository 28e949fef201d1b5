import { auroc, aurocSorted } from './auroc';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** O(n²) pair count: a positive beating a negative scores 1, a tie 1/2. */
function naiveAuroc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      if (scores[i] > scores[j]) wins += 1;
      else if (scores[i] === scores[j]) wins += 0.5;
    }
  }
  return wins / pairs;
}

describe('auroc', () => {
  it('matches the naive pair count on random data with many ties (f32 and f64 paths)', () => {
    const rnd = lcg(42);
    for (let trial = 0; trial < 20; trial++) {
      const n = 50 + Math.floor(rnd() * 400);
      const levels = 2 + Math.floor(rnd() * 30);
      const labels = Array.from({ length: n }, () => (rnd() < 0.3 ? 1 : 0));
      labels[0] = 1;
      labels[1] = 0;
      const scores = labels.map((l) => Math.floor((rnd() + 0.3 * l) * levels) / levels - 0.5);
      expect(Math.abs(auroc(scores, labels) - naiveAuroc(scores, labels))).toBeLessThan(1e-12);
      const f32 = Float32Array.from(scores);
      expect(Math.abs(auroc(f32, Uint8Array.from(labels)) - naiveAuroc(f32, labels))).toBeLessThan(1e-12);
    }
  });

  it('does not merge distinct doubles that round to the same float32', () => {
    // 1 and 1 + 2^-30 are equal in f32 but ordered in f64
    expect(auroc([1 + 2 ** -30, 1], [1, 0])).toBe(1);
    expect(auroc(new Float32Array([1 + 2 ** -30, 1]), [1, 0])).toBe(0.5);
  });

  it('gives 1 for a perfect ranking, 0 for an inverted one, 0.5 when all tied', () => {
    expect(auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(auroc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    expect(auroc([3, 3, 3, 3, 3], [0, 1, 0, 1, 1])).toBe(0.5);
  });

  it('hand-checked mixed case', () => {
    // positives {0.4, 0.6}, negatives {0.4, 0.5}: 0.4 vs (0.4 tie, 0.5 loss) = 0.5; 0.6 beats both = 2 -> 2.5/4
    expect(auroc([0.4, 0.6, 0.4, 0.5], [1, 1, 0, 0])).toBe(0.625);
  });

  it('treats -0 and +0 as a tie', () => {
    expect(auroc(new Float32Array([-0, 0]), [1, 0])).toBe(0.5);
    expect(auroc([-0, 0], [1, 0])).toBe(0.5);
  });

  it('throws clear errors for one class, bad labels, non-finite scores and length mismatch', () => {
    expect(() => auroc([1, 2, 3], [1, 1, 1])).toThrow(/auroc: needs both classes, got 3 positive and 0 negative/);
    expect(() => auroc([1, 2], [0, 2])).toThrow(/auroc: labels\[1\] = 2, expected 0 or 1/);
    expect(() => auroc([1, NaN], [0, 1])).toThrow(/auroc: scores\[1\] = NaN is not a finite number/);
    expect(() => auroc([1, 2, 3], [0, 1])).toThrow(/same length, got 3 and 2/);
    expect(() => auroc([], [])).toThrow(/scores is empty/);
  });

  it('aurocSorted agrees with auroc given sorted classes', () => {
    expect(aurocSorted(new Float64Array([0.4, 0.6]), new Float64Array([0.4, 0.5]))).toBe(0.625);
  });
});
