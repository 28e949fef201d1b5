export { randomChannelSelection } from '../random';

/**
 * Checks an explicit channel index list against a feature count: non-empty, integers, in
 * [0, featureCount), no duplicates. Returns the indices as a new array.
 */
export function validateChannelIndices(indices: ArrayLike<number>, featureCount: number): number[] {
  if (!Number.isSafeInteger(featureCount) || featureCount < 1) {
    throw new RangeError(`validateChannelIndices: featureCount must be a positive integer, got ${featureCount}`);
  }
  if (indices.length === 0) throw new RangeError('validateChannelIndices: the channel index list is empty');
  if (indices.length > featureCount) {
    throw new RangeError(`validateChannelIndices: ${indices.length} indices cannot be distinct channels out of featureCount=${featureCount}`);
  }
  const seen = new Map<number, number>();
  const out = new Array<number>(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const v = indices[i];
    if (!Number.isInteger(v)) throw new RangeError(`validateChannelIndices: index at position ${i} is ${v}, not an integer`);
    if (v < 0 || v >= featureCount) {
      throw new RangeError(`validateChannelIndices: index at position ${i} is ${v}, outside [0, ${featureCount})`);
    }
    const previous = seen.get(v);
    if (previous !== undefined) {
      throw new RangeError(`validateChannelIndices: channel ${v} appears twice, at positions ${previous} and ${i}`);
    }
    seen.set(v, i);
    out[i] = v;
  }
  return out;
}
