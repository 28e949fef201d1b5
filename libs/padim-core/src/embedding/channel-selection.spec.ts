import { randomChannelSelection, validateChannelIndices } from './channel-selection';

describe('validateChannelIndices', () => {
  it('accepts a valid list and returns a copy in the same order', () => {
    const input = [5, 0, 3];
    const out = validateChannelIndices(input, 6);
    expect(out).toEqual([5, 0, 3]);
    expect(out).not.toBe(input);
    expect(validateChannelIndices(Int32Array.from([1, 2]), 3)).toEqual([1, 2]);
  });

  it('accepts the seeded random selection it re-exports', () => {
    const idx = randomChannelSelection(42, 448, 100);
    expect(validateChannelIndices(idx, 448)).toEqual(idx);
  });

  it('rejects bad lists with errors that say what is wrong', () => {
    expect(() => validateChannelIndices([], 4)).toThrow(/empty/);
    expect(() => validateChannelIndices([0, 1.5], 4)).toThrow(/position 1 is 1.5, not an integer/);
    expect(() => validateChannelIndices([0, NaN], 4)).toThrow(/not an integer/);
    expect(() => validateChannelIndices([4], 4)).toThrow(/position 0 is 4, outside \[0, 4\)/);
    expect(() => validateChannelIndices([-1], 4)).toThrow(/outside/);
    expect(() => validateChannelIndices([2, 1, 2], 4)).toThrow(/channel 2 appears twice, at positions 0 and 2/);
    expect(() => validateChannelIndices([0, 1, 2], 2)).toThrow(/3 indices cannot be distinct channels out of featureCount=2/);
    expect(() => validateChannelIndices([0], 0)).toThrow(/featureCount must be a positive integer/);
  });
});
