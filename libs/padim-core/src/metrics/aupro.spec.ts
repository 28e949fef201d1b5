import { aupro } from './aupro';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Independent 8-connected labelling by union-find (the kernel under test uses flood fill). */
function regionsOf(mask: Uint8Array, h: number, w: number): number[][] {
  const parent = Array.from({ length: h * w }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!mask[y * w + x]) continue;
      for (const [dy, dx] of [
        [0, 1],
        [1, -1],
        [1, 0],
        [1, 1],
      ]) {
        const ny = y + dy;
        const nx = x + dx;
        if (ny < h && nx >= 0 && nx < w && mask[ny * w + nx]) parent[find(y * w + x)] = find(ny * w + nx);
      }
    }
  }
  const groups = new Map<number, number[]>();
  for (let i = 0; i < h * w; i++) if (mask[i]) groups.set(find(i), [...(groups.get(find(i)) ?? []), i]);
  return [...groups.values()];
}

/** Literal port of MVTec's trapezoid(x, y, x_max) (bisect + linear interpolation at x_max). */
function trapezoid(x: number[], y: number[], xMax: number): number {
  let correction = 0;
  if (!x.includes(xMax)) {
    let ins = 0;
    while (ins < x.length && x[ins] <= xMax) ins++; // bisect_right
    const yInterp = y[ins - 1] + ((y[ins] - y[ins - 1]) * (xMax - x[ins - 1])) / (x[ins] - x[ins - 1]);
    correction = 0.5 * (yInterp + y[ins - 1]) * (xMax - x[ins - 1]);
  }
  let area = 0;
  for (let k = 1; k < x.length && x[k] <= xMax; k++) area += 0.5 * (y[k] + y[k - 1]) * (x[k] - x[k - 1]);
  return area + correction;
}

/** Naive AUPRO: explicit thresholds (descending), explicit per-threshold FPR and per-region overlap. */
function naiveAupro(maps: Float32Array[], masks: Uint8Array[], h: number, w: number, limit: number, thresholds: number[]): number {
  const regions = maps.flatMap((map, m) => regionsOf(masks[m], h, w).map((px) => px.map((i) => map[i])));
  const normal = maps.flatMap((map, m) => Array.from(map).filter((_, i) => !masks[m][i]));
  const xs = [0];
  const ys = [0];
  for (const t of thresholds) {
    xs.push(normal.filter((v) => v >= t).length / normal.length);
    ys.push(regions.reduce((s, r) => s + r.filter((v) => v >= t).length / r.length, 0) / regions.length);
  }
  xs.push(1);
  ys.push(1);
  return trapezoid(xs, ys, limit) / limit;
}

function randomCase(rnd: () => number, images: number, h: number, w: number, quantise: number | null) {
  const maps: Float32Array[] = [];
  const masks: Uint8Array[] = [];
  for (let m = 0; m < images; m++) {
    const mask = new Uint8Array(h * w);
    const blobs = m === 0 ? 2 : Math.floor(rnd() * 4); // some images have no anomaly at all
    for (let b = 0; b < blobs; b++) {
      const y0 = Math.floor(rnd() * h);
      const x0 = Math.floor(rnd() * w);
      const bh = 1 + Math.floor(rnd() * 4);
      const bw = 1 + Math.floor(rnd() * 4);
      for (let y = y0; y < Math.min(h, y0 + bh); y++) for (let x = x0; x < Math.min(w, x0 + bw); x++) mask[y * w + x] = 255;
    }
    for (let k = 0; k < 3; k++) mask[Math.floor(rnd() * h * w)] = 1; // stray pixels, often diagonal neighbours
    const map = new Float32Array(h * w);
    for (let i = 0; i < h * w; i++) {
      const v = Math.min(0.999, rnd() * 0.8 + (mask[i] ? 0.25 * rnd() : 0));
      map[i] = quantise === null ? v : Math.floor(v * quantise) / quantise;
    }
    maps.push(map);
    masks.push(mask);
  }
  return { maps, masks };
}

describe('aupro', () => {
  it('hand-computed 2x4 case at several limits', () => {
    // Regions A = {(0,0),(0,1)} (size 2) and B = {(1,3)}; 5 normal pixels.
    // Descending thresholds give (FPR, PRO): 0.9 -> (0, .25), 0.8 -> (0, .75), 0.6 -> (.2, .75),
    // 0.5 -> (.4, .75), 0.4 -> (.4, 1), 0.3 -> (.6, 1), 0.2 -> (.8, 1), 0.1 -> (1, 1).
    // limit .3: .2 * .75 + interpolated .1 * .75 = .225 -> /.3 = .75
    // limit .5: .4 * .75 + .1 * 1 = .4 -> /.5 = .8;  limit 1: .3 + .6 = .9
    const maps = [new Float32Array([0.9, 0.4, 0.5, 0.1, 0.2, 0.3, 0.6, 0.8])];
    const masks = [new Uint8Array([1, 1, 0, 0, 0, 0, 0, 1])];
    const shape = { h: 2, w: 4 };
    expect(aupro(maps, masks, shape)).toBeCloseTo(0.75, 12);
    expect(aupro(maps, masks, shape, 0.5)).toBeCloseTo(0.8, 12);
    expect(aupro(maps, masks, shape, 1)).toBeCloseTo(0.9, 12);
  });

  it('moves tied scores together: all-equal scores give the diagonal, area limit/2 -> 0.5', () => {
    const maps = [new Float32Array(12).fill(0.5)];
    const masks = [new Uint8Array([1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0])];
    // curve (0,0) -> (1,1): interpolated value at 0.3 is 0.3, area 0.045, normalised 0.15
    expect(aupro(maps, masks, { h: 3, w: 4 })).toBeCloseTo(0.15, 12);
    expect(aupro(maps, masks, { h: 3, w: 4 }, 1)).toBeCloseTo(0.5, 12);
  });

  it('is 1 for perfect maps and 0 for inverted ones', () => {
    const masks = [new Uint8Array([0, 1, 1, 0, 0, 0, 0, 0, 1]), new Uint8Array(9)];
    const perfect = masks.map((m) => Float32Array.from(m, (v, i) => (v ? 2 + i : i * 0.1)));
    const inverted = masks.map((m) => Float32Array.from(m, (v, i) => (v ? -2 - i : i * 0.1)));
    expect(aupro(perfect, masks, { h: 3, w: 3 })).toBe(1);
    expect(aupro(inverted, masks, { h: 3, w: 3 })).toBe(0);
  });

  it('matches the naive threshold loop on random maps with several blobs (all distinct thresholds)', () => {
    const rnd = lcg(2024);
    for (let trial = 0; trial < 8; trial++) {
      const h = 9 + (trial % 3);
      const w = 11;
      const { maps, masks } = randomCase(rnd, 4, h, w, null);
      const thresholds = [...new Set(maps.flatMap((m) => Array.from(m)))].sort((a, b) => b - a);
      for (const limit of [0.3, 0.05, 1]) {
        const expected = naiveAupro(maps, masks, h, w, limit, thresholds);
        expect(Math.abs(aupro(maps, masks, { h, w }, limit) - expected)).toBeLessThan(1e-9);
      }
    }
  });

  it('matches the naive loop over a fine explicit threshold grid on quantised maps (heavy ties)', () => {
    const rnd = lcg(77);
    for (let trial = 0; trial < 6; trial++) {
      const { maps, masks } = randomCase(rnd, 5, 10, 10, 32);
      // every multiple of 1/256 in [0, 1]: a superset of the 1/32 score levels, so extra points only repeat
      const grid = Array.from({ length: 257 }, (_, k) => 1 - k / 256);
      expect(Math.abs(aupro(maps, masks, { h: 10, w: 10 }) - naiveAupro(maps, masks, 10, 10, 0.3, grid))).toBeLessThan(1e-9);
    }
  });

  it('counts regions of every image in the mean (a missed small region costs as much as a large one)', () => {
    // Image 0: region of 4 pixels, all detected; image 1: 1-pixel region never detected before FPR 1.
    const shape = { h: 2, w: 4 };
    const masks = [new Uint8Array([1, 1, 0, 0, 1, 1, 0, 0]), new Uint8Array([0, 0, 0, 0, 0, 0, 0, 1])];
    const maps = [new Float32Array([9, 9, 1, 2, 9, 9, 3, 4]), new Float32Array([5, 6, 7, 8, 1, 2, 3, 0])];
    // PRO is 0.5 from FPR 0 until the last threshold, where it jumps to 1 at FPR 1
    expect(aupro(maps, masks, shape)).toBeCloseTo(0.5, 12);
  });

  it('throws clear errors', () => {
    const shape = { h: 2, w: 2 };
    const map = new Float32Array(4);
    expect(() => aupro([map], [new Uint8Array(4)], shape)).toThrow(/aupro: masks contain no anomalous pixel/);
    expect(() => aupro([map], [new Uint8Array(4).fill(1)], shape)).toThrow(/aupro: masks contain no normal pixel/);
    expect(() => aupro([map], [new Uint8Array(3)], shape)).toThrow(/aupro: masks\[0\] has length 3, expected h\*w = 4/);
    expect(() => aupro([map, map], [new Uint8Array(4)], shape)).toThrow(/aupro: maps and masks must have the same length/);
    const nanMap = new Float32Array([0, NaN, 0, 0]);
    expect(() => aupro([nanMap], [new Uint8Array([1, 0, 0, 0])], shape)).toThrow(/maps\[0\]\[1\] = NaN/);
    expect(() => aupro([map], [new Uint8Array([1, 0, 0, 0])], shape, 0)).toThrow(/fprLimit/);
  });
});
