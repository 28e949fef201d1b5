import { Mt19937 } from './mt19937';

/**
 * The parts of CPython 3.x's `random.Random` that PaDiM needs, ported exactly so that a seed gives
 * the same draws as Python: `seed(int)`, `getrandbits`, `_randbelow_with_getrandbits`, `random`,
 * `gauss` and `sample`. Reference: CPython `Lib/random.py` and `Modules/_randommodule.c` (3.11).
 */
export class PythonRandom {
  private readonly mt = new Mt19937();
  private gaussNext: number | null = null;

  constructor(seed: number | bigint = 0) {
    this.seed(seed);
  }

  /** `random.seed(a)` for an int `a`: MT `init_by_array` over |a| split into little-endian 32-bit words. */
  seed(seed: number | bigint): void {
    this.mt.initByArray(seedToKey(seed));
    this.gaussNext = null;
  }

  /** `getrandbits(k)` for 0 <= k <= 53, so the result is an exact JS number. */
  getrandbits(k: number): number {
    if (!Number.isInteger(k) || k < 0 || k > 53) {
      throw new RangeError(`getrandbits: k must be an integer in [0, 53], got ${k}`);
    }
    if (k === 0) return 0;
    if (k <= 32) return this.mt.nextUint32() >>> (32 - k);
    // CPython fills 32-bit words least significant first; the last word keeps its top bits.
    const low = this.mt.nextUint32();
    const high = this.mt.nextUint32() >>> (64 - k);
    return high * 4294967296 + low;
  }

  /** `_randbelow_with_getrandbits(n)`: uniform in [0, n) by rejection on bit_length(n) bits. */
  randbelow(n: number): number {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(`randbelow: n must be a non-negative safe integer, got ${n}`);
    }
    if (n === 0) return 0;
    const k = bitLength(n);
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /** `random()`: a 53-bit float in [0, 1). */
  random(): number {
    const a = this.mt.nextUint32() >>> 5;
    const b = this.mt.nextUint32() >>> 6;
    return (a * 67108864 + b) * (1 / 9007199254740992);
  }

  /**
   * `gauss(mu, sigma)`: Box–Muller, returning the cosine branch and caching the sine branch for
   * the next call, as CPython does. Equal to Python up to the last-ulp differences of libm.
   */
  gauss(mu = 0, sigma = 1): number {
    let z = this.gaussNext;
    this.gaussNext = null;
    if (z === null) {
      const x2pi = this.random() * 2 * Math.PI;
      const g2rad = Math.sqrt(-2 * Math.log(1 - this.random()));
      z = Math.cos(x2pi) * g2rad;
      this.gaussNext = Math.sin(x2pi) * g2rad;
    }
    return mu + z * sigma;
  }

  /**
   * `sample(population, k)`: k distinct elements in selection order. Uses a partial shuffle of a
   * pool when n <= setsize and rejection against a set of picked indices otherwise, exactly as
   * CPython chooses, because the two branches consume the stream differently.
   */
  sample<T>(population: readonly T[], k: number): T[] {
    const n = population.length;
    if (!Number.isInteger(k) || k < 0 || k > n) {
      throw new RangeError(`sample: k must be an integer in [0, ${n}], got ${k}`);
    }
    const result = new Array<T>(k);
    let setsize = 21;
    if (k > 5) setsize += 4 ** Math.ceil(Math.log(k * 3) / Math.log(4));
    if (n <= setsize) {
      const pool = population.slice();
      for (let i = 0; i < k; i++) {
        const j = this.randbelow(n - i);
        result[i] = pool[j];
        pool[j] = pool[n - i - 1];
      }
    } else {
      const selected = new Set<number>();
      for (let i = 0; i < k; i++) {
        let j = this.randbelow(n);
        while (selected.has(j)) j = this.randbelow(n);
        selected.add(j);
        result[i] = population[j];
      }
    }
    return result;
  }
}

/**
 * Python's `random.seed(seed); random.sample(range(featureCount), d)`, the way PaDiM implementations
 * pick their random channel subset (anomalib uses torch instead; this matches the original PaDiM code).
 */
export function randomChannelSelection(seed: number, featureCount: number, d: number): number[] {
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`randomChannelSelection: seed must be a safe integer, got ${seed}`);
  }
  if (!Number.isSafeInteger(featureCount) || featureCount < 1) {
    throw new RangeError(`randomChannelSelection: featureCount must be a positive integer, got ${featureCount}`);
  }
  if (!Number.isSafeInteger(d) || d < 1) {
    throw new RangeError(`randomChannelSelection: d must be a positive integer, got ${d}`);
  }
  if (d > featureCount) {
    throw new RangeError(`randomChannelSelection: cannot select d=${d} channels out of featureCount=${featureCount}`);
  }
  const population = Array.from({ length: featureCount }, (_, i) => i);
  return new PythonRandom(seed).sample(population, d);
}

function seedToKey(seed: number | bigint): number[] {
  let magnitude: bigint;
  if (typeof seed === 'bigint') {
    magnitude = seed < 0n ? -seed : seed;
  } else {
    if (!Number.isSafeInteger(seed)) {
      throw new RangeError(`seed must be a safe integer or a bigint, got ${seed}`);
    }
    magnitude = BigInt(Math.abs(seed));
  }
  const key: number[] = [];
  while (magnitude > 0n) {
    key.push(Number(magnitude & 0xffffffffn));
    magnitude >>= 32n;
  }
  return key.length === 0 ? [0] : key;
}

function bitLength(n: number): number {
  return n < 4294967296 ? 32 - Math.clz32(n) : 32 + (32 - Math.clz32(Math.floor(n / 4294967296)));
}
