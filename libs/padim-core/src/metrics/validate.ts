/**
 * Argument checks shared by the metrics. Each throws a RangeError whose message names the
 * metric and the offending argument, so a bad call fails at the boundary, not as a NaN later.
 */

export function assertSameLength(fn: string, aName: string, a: ArrayLike<unknown>, bName: string, b: ArrayLike<unknown>): void {
  if (a.length !== b.length) {
    throw new RangeError(`${fn}: ${aName} and ${bName} must have the same length, got ${a.length} and ${b.length}`);
  }
}

export function assertNonEmpty(fn: string, name: string, a: ArrayLike<unknown>): void {
  if (a.length === 0) throw new RangeError(`${fn}: ${name} is empty`);
}

export function assertFiniteScores(fn: string, name: string, scores: ArrayLike<number>): void {
  for (let i = 0; i < scores.length; i++) {
    const v = scores[i];
    // typeof guards against non-number entries in plain arrays
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new RangeError(`${fn}: ${name}[${i}] = ${v} is not a finite number`);
  }
}

/** Checks every label is 0 or 1 and returns how many are 1. */
export function assertBinaryLabels(fn: string, name: string, labels: ArrayLike<number>): number {
  let positives = 0;
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (v === 1) positives++;
    else if (v !== 0) throw new RangeError(`${fn}: ${name}[${i}] = ${v}, expected 0 or 1`);
  }
  return positives;
}

export function assertBothClasses(fn: string, positives: number, negatives: number): void {
  if (positives === 0 || negatives === 0) {
    throw new RangeError(
      `${fn}: needs both classes, got ${positives} positive and ${negatives} negative samples; ` + 'the metric is undefined when only one class is present',
    );
  }
}

/** Scores and 0/1 labels of equal, non-zero length; returns the number of positives. */
export function assertScoresAndLabels(fn: string, scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  assertSameLength(fn, 'scores', scores, 'labels', labels);
  assertNonEmpty(fn, 'scores', scores);
  assertFiniteScores(fn, 'scores', scores);
  return assertBinaryLabels(fn, 'labels', labels);
}

/**
 * Anomaly maps and ground-truth masks: equal counts, at least one pair, each of length h*w,
 * finite scores. Masks are read as nonzero = anomalous, so MVTec's 0/255 PNGs work as loaded.
 */
export function assertMapsAndMasks(fn: string, maps: readonly Float32Array[], masks: readonly Uint8Array[], shape: { h: number; w: number }): void {
  const { h, w } = shape;
  for (const [name, v] of [
    ['h', h],
    ['w', w],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${fn}: ${name} must be a positive integer, got ${v}`);
  }
  assertSameLength(fn, 'maps', maps, 'masks', masks);
  assertNonEmpty(fn, 'maps', maps);
  const n = h * w;
  for (let i = 0; i < maps.length; i++) {
    if (maps[i].length !== n) throw new RangeError(`${fn}: maps[${i}] has length ${maps[i].length}, expected h*w = ${n}`);
    if (masks[i].length !== n) throw new RangeError(`${fn}: masks[${i}] has length ${masks[i].length}, expected h*w = ${n}`);
    assertFiniteScores(fn, `maps[${i}]`, maps[i]);
  }
}
