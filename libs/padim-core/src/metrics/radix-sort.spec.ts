import { radixSortFloat32, radixSortFloat32Pairs } from './radix-sort';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('radixSortFloat32', () => {
  it('matches native TypedArray#sort on values spanning signs, magnitudes and infinities', () => {
    const rnd = lcg(11);
    const values = Float32Array.from({ length: 5000 }, () => {
      const u = rnd();
      if (u < 0.05) return Math.round(rnd() * 4) - 2; // many ties
      return (rnd() - 0.5) * 10 ** Math.floor(rnd() * 20 - 10);
    });
    values[0] = Infinity;
    values[1] = -Infinity;
    values[2] = 1e-45; // denormal
    values[3] = -1e-45;
    const expected = values.slice().sort();
    const sorted = radixSortFloat32(values);
    expect(Array.from(sorted)).toEqual(Array.from(expected));
  });

  it('sorts -0 as +0 so that it ties with 0, and leaves the input untouched', () => {
    const values = new Float32Array([0, -0, -1, 1, -0]);
    const before = values.slice();
    const sorted = radixSortFloat32(values);
    expect(Array.from(sorted)).toEqual([-1, 0, 0, 0, 1]);
    expect(Object.is(sorted[1], 0) && Object.is(sorted[2], 0) && Object.is(sorted[3], 0)).toBe(true);
    expect(Array.from(values)).toEqual(Array.from(before));
  });

  it('handles empty and constant arrays', () => {
    expect(radixSortFloat32(new Float32Array(0)).length).toBe(0);
    expect(Array.from(radixSortFloat32(new Float32Array([3, 3, 3])))).toEqual([3, 3, 3]);
  });
});

describe('radixSortFloat32Pairs', () => {
  it('carries the payload along and is stable for equal values', () => {
    const rnd = lcg(5);
    const n = 3000;
    const values = Float32Array.from({ length: n }, () => Math.floor(rnd() * 50) / 7 - 3);
    const payload = Int32Array.from({ length: n }, (_, i) => i);
    const { values: sorted, payload: order } = radixSortFloat32Pairs(values, payload);
    const expected = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a] - values[b] || a - b);
    expect(Array.from(order)).toEqual(expected);
    for (let k = 0; k < n; k++) expect(sorted[k]).toBe(values[order[k]]);
    expect(Array.from(payload)).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  it('rejects a payload of another length', () => {
    expect(() => radixSortFloat32Pairs(new Float32Array(3), new Int32Array(2))).toThrow(/payload/);
  });
});
