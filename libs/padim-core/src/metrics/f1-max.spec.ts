import { f1Max } from './f1-max';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Brute force: every distinct score as threshold, predict positive when score >= t. */
function bruteF1Max(scores: ArrayLike<number>, labels: ArrayLike<number>): { f1: number; threshold: number } {
  const thresholds = Array.from(new Set(Array.from(scores))).sort((a, b) => a - b); // ascending, like torchmetrics
  let best = { f1: -1, threshold: NaN };
  for (const t of thresholds) {
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (let i = 0; i < scores.length; i++) {
      const predicted = scores[i] >= t;
      if (predicted && labels[i] === 1) tp++;
      else if (predicted) fp++;
      else if (labels[i] === 1) fn++;
    }
    const precision = tp + fp === 0 ? 0 : tp / (tp + fp);
    const recall = tp / (tp + fn);
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    if (f1 > best.f1 + 1e-12) best = { f1, threshold: t }; // first (lowest) threshold wins ties, as torch.argmax
  }
  return best;
}

describe('f1Max', () => {
  it('matches brute force over all distinct thresholds on random data with ties', () => {
    const rnd = lcg(9);
    for (let trial = 0; trial < 30; trial++) {
      const n = 20 + Math.floor(rnd() * 300);
      const levels = 2 + Math.floor(rnd() * 40);
      const labels = Array.from({ length: n }, () => (rnd() < 0.25 ? 1 : 0));
      labels[0] = 1;
      const scores = labels.map((l) => Math.floor((rnd() + 0.4 * l) * levels) / levels);
      const got = f1Max(scores, labels);
      const want = bruteF1Max(scores, labels);
      expect(Math.abs(got.f1 - want.f1)).toBeLessThan(1e-12);
      expect(got.threshold).toBe(want.threshold);
      expect(Math.abs((2 * got.precision * got.recall) / (got.precision + got.recall) - got.f1)).toBeLessThan(1e-12);
    }
  });

  it('hand-checked: perfect separation picks the lowest positive score', () => {
    expect(f1Max([0.1, 0.2, 0.7, 0.9], [0, 0, 1, 1])).toEqual({ f1: 1, threshold: 0.7, precision: 1, recall: 1 });
  });

  it('hand-checked with a tie across classes', () => {
    // t = 0.9: tp 1 fp 0 -> F1 = 2/(1+0+3) = 0.5; t = 0.5 (one pos, one neg tied): tp 2 fp 1 -> 4/6;
    // t = 0.3: tp 3 fp 1 -> 6/7 (best); t = 0.1: tp 3 fp 2 -> 6/8
    const r = f1Max([0.9, 0.5, 0.5, 0.3, 0.1], [1, 1, 0, 1, 0]);
    expect(r.f1).toBeCloseTo(6 / 7, 12);
    expect(r.threshold).toBe(0.3);
    expect(r.precision).toBe(0.75);
    expect(r.recall).toBe(1);
  });

  it('resolves equal F1 to the lowest threshold', () => {
    // t = 2: tp 1 fp 0 -> 2/3; t = 1: tp 2 fp 2 -> 4/6 = 2/3 as well
    const r = f1Max([2, 1, 1, 1], [1, 1, 0, 0]);
    expect(r.f1).toBe(2 / 3);
    expect(r.threshold).toBe(1);
  });

  it('works without negatives but needs a positive', () => {
    expect(f1Max([0.3, 0.5], [1, 1]).threshold).toBe(0.3);
    expect(() => f1Max([0.3, 0.5], [0, 0])).toThrow(/f1Max: needs at least one positive/);
  });
});
