import { assertBinaryLabels, assertMapsAndMasks, assertScoresAndLabels } from './validate';

describe('validate', () => {
  it('counts positives and names the offending label', () => {
    expect(assertBinaryLabels('m', 'labels', [0, 1, 1, 0])).toBe(2);
    expect(() => assertBinaryLabels('m', 'labels', [0, 0.5])).toThrow('m: labels[1] = 0.5, expected 0 or 1');
  });

  it('rejects infinite and non-number scores', () => {
    expect(() => assertScoresAndLabels('m', [1, Infinity], [0, 1])).toThrow('m: scores[1] = Infinity is not a finite number');
    expect(() => assertScoresAndLabels('m', [1, '2' as unknown as number], [0, 1])).toThrow(/scores\[1\] = 2 is not a finite/);
  });

  it('checks map/mask shapes', () => {
    const shape = { h: 2, w: 3 };
    expect(() => assertMapsAndMasks('m', [], [], shape)).toThrow('m: maps is empty');
    expect(() => assertMapsAndMasks('m', [new Float32Array(5)], [new Uint8Array(6)], shape)).toThrow('m: maps[0] has length 5, expected h*w = 6');
    const badShape = { h: 2.5, w: 3 };
    expect(() => assertMapsAndMasks('m', [new Float32Array(6)], [new Uint8Array(6)], badShape)).toThrow(/h must be a positive integer/);
    expect(() => assertMapsAndMasks('m', [new Float32Array(6)], [new Uint8Array(6)], shape)).not.toThrow();
  });
});
