import { PythonRandom, randomChannelSelection } from './python-random';

// Known values from CPython 3.11.7, e.g.
//   python3 -c "import random; r=random.Random(42); print([r.getrandbits(32) for _ in range(5)])"
// Each block below names the expression that produced it.

describe('PythonRandom', () => {
  it('getrandbits(32) after Random(42)', () => {
    const r = new PythonRandom(42);
    expect(Array.from({ length: 5 }, () => r.getrandbits(32))).toEqual([2746317213, 478163327, 107420369, 3184935163, 1181241943]);
  });

  it('getrandbits for k > 32 and k < 32: Random(42); 3x getrandbits(40), 2x getrandbits(53), 3x getrandbits(7)', () => {
    const r = new PythonRandom(42);
    expect([r.getrandbits(40), r.getrandbits(40), r.getrandbits(40)]).toEqual([123005401501, 811856239313, 267469214295]);
    expect([r.getrandbits(53), r.getrandbits(53)]).toEqual([1256845828445918, 923193498493097]);
    expect([r.getrandbits(7), r.getrandbits(7), r.getrandbits(7)]).toEqual([86, 94, 114]);
  });

  it('random() after Random(0) is bit-exact', () => {
    const r = new PythonRandom(0);
    expect([r.random(), r.random(), r.random()]).toEqual([0.8444218515250481, 0.7579544029403025, 0.420571580830845]);
  });

  it('seeds wider than 32 bits and negative seeds: Random(2**40+5), Random(2**70+3), Random(-42)', () => {
    const big = new PythonRandom(2 ** 40 + 5);
    expect([big.getrandbits(32), big.getrandbits(32), big.getrandbits(32)]).toEqual([2166296868, 2220160828, 1153647273]);
    const huge = new PythonRandom(2n ** 70n + 3n);
    expect([huge.getrandbits(32), huge.getrandbits(32), huge.getrandbits(32)]).toEqual([701776502, 1422058157, 4284124921]);
    const neg = new PythonRandom(-42);
    expect([neg.getrandbits(32), neg.getrandbits(32)]).toEqual([2746317213, 478163327]);
  });

  it('randbelow: Random(5); 5x _randbelow(1000), 3x _randbelow(2**50+7)', () => {
    const r = new PythonRandom(5);
    expect(Array.from({ length: 5 }, () => r.randbelow(1000))).toEqual([637, 261, 759, 367, 814]);
    expect(Array.from({ length: 3 }, () => r.randbelow(2 ** 50 + 7))).toEqual([65315844174117, 1048491025567231, 254915572623501]);
  });

  it('gauss() after Random(42), including the cached sine branch (libm may differ in the last ulp)', () => {
    const r = new PythonRandom(42);
    const expected = [-0.14409032957792836, -0.1729036003315193, -0.11131586156766246, 0.7019837250988631, -0.12758828378288709];
    for (const e of expected) expect(r.gauss()).toBeCloseTo(e, 14);
  });

  it('re-seeding restarts the stream and drops the cached gauss value', () => {
    const r = new PythonRandom(9);
    const first = [r.gauss(), r.random()];
    r.gauss();
    r.seed(9);
    expect([r.gauss(), r.random()]).toEqual(first);
  });

  it('sample, selected-set branch: Random(7).sample(range(10000), 8) and Random(3).sample(range(100), 5)', () => {
    const range = (n: number) => Array.from({ length: n }, (_, i) => i);
    expect(new PythonRandom(7).sample(range(10000), 8)).toEqual([5305, 2471, 6468, 791, 1186, 8779, 1542, 5991]);
    expect(new PythonRandom(3).sample(range(100), 5)).toEqual([30, 75, 69, 16, 47]);
  });

  it('sample, pool branch with k = n: Random(3).sample(range(20), 20) is a permutation', () => {
    const out = new PythonRandom(3).sample(
      Array.from({ length: 20 }, (_, i) => i),
      20,
    );
    expect(out).toEqual([7, 18, 17, 4, 11, 14, 9, 19, 10, 13, 1, 0, 12, 2, 16, 15, 5, 6, 3, 8]);
  });

  it('rejects bad arguments', () => {
    const r = new PythonRandom(1);
    expect(() => r.sample([1, 2, 3], 4)).toThrow(/k must be an integer in \[0, 3\]/);
    expect(() => r.getrandbits(54)).toThrow(/\[0, 53\]/);
    expect(() => r.randbelow(1.5)).toThrow(/non-negative safe integer/);
    expect(() => new PythonRandom(0.5)).toThrow(/safe integer/);
  });
});

describe('randomChannelSelection', () => {
  // python3 -c "import random; random.seed(42); print(random.sample(range(448), 100))"
  const seed42 = [
    327, 57, 12, 379, 140, 125, 114, 71, 377, 52, 346, 444, 279, 44, 302, 216, 16, 15, 47, 111, 119, 258, 308, 13, 287, 101, 366, 332, 359, 435, 214, 112, 229,
    301, 142, 3, 388, 81, 357, 432, 174, 413, 79, 110, 390, 172, 438, 429, 194, 49, 183, 176, 309, 135, 22, 373, 235, 274, 63, 193, 40, 282, 150, 321, 316, 185,
    295, 98, 360, 35, 23, 338, 116, 148, 387, 427, 51, 399, 406, 232, 325, 186, 83, 189, 181, 107, 343, 136, 419, 349, 331, 36, 311, 367, 87, 273, 442, 365,
    236, 370,
  ];

  it('matches random.seed(42); random.sample(range(448), 100)', () => {
    const idx = randomChannelSelection(42, 448, 100);
    expect(idx).toEqual(seed42);
    expect(idx.slice(0, 10)).toEqual([327, 57, 12, 379, 140, 125, 114, 71, 377, 52]);
    expect(idx.slice(-6)).toEqual([87, 273, 442, 365, 236, 370]);
  });

  it('matches random.seed(0); random.sample(range(448), 100)[:5]', () => {
    expect(randomChannelSelection(0, 448, 100).slice(0, 5)).toEqual([432, 197, 388, 215, 20]);
  });

  it('matches random.seed(1024); random.sample(range(1792), 550) (first 8, last 4, sum)', () => {
    const idx = randomChannelSelection(1024, 1792, 550);
    expect(idx.slice(0, 8)).toEqual([1632, 39, 990, 1740, 797, 661, 1698, 1623]);
    expect(idx.slice(-4)).toEqual([1217, 1319, 153, 1284]);
    expect(idx.reduce((s, v) => s + v, 0)).toBe(496188);
  });

  it('returns distinct in-range indices', () => {
    for (const [f, d] of [
      [448, 100],
      [50, 50],
      [10000, 7],
    ]) {
      const idx = randomChannelSelection(123, f, d);
      expect(idx).toHaveLength(d);
      expect(new Set(idx).size).toBe(d);
      expect(idx.every((i) => Number.isInteger(i) && i >= 0 && i < f)).toBe(true);
    }
  });

  it('rejects bad arguments with clear errors', () => {
    expect(() => randomChannelSelection(1, 10, 11)).toThrow(/cannot select d=11 channels out of featureCount=10/);
    expect(() => randomChannelSelection(1, 10.5, 3)).toThrow(/featureCount must be a positive integer/);
    expect(() => randomChannelSelection(1, 10, 2.5)).toThrow(/d must be a positive integer/);
    expect(() => randomChannelSelection(1, 10, 0)).toThrow(/d must be a positive integer/);
    expect(() => randomChannelSelection(1.5, 10, 3)).toThrow(/seed must be a safe integer/);
  });
});
