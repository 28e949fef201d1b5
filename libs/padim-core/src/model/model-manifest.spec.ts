import { tinyModel } from '../../../../test/support/tiny-model';
import { ModelManifest, normalizeScore, parseModelManifest } from './model-manifest';

/** The shared test model's manifest, with the entries of its two tensors (2×3 grid, d=4). */
function validManifest(): ModelManifest {
  const sha = 'a'.repeat(64);
  return {
    ...tinyModel().manifest,
    tensors: {
      mean: { file: 'mean.f32', dtype: 'float32', shape: [6, 4], bytes: 6 * 4 * 4, sha256: sha },
      invCholesky: { file: 'inv_cholesky.f32', dtype: 'float32', shape: [6, 10], bytes: 6 * 10 * 4, sha256: sha },
    },
  };
}

describe('parseModelManifest', () => {
  it('accepts a valid manifest unchanged after a JSON round trip', () => {
    const m = validManifest();
    expect(parseModelManifest(JSON.parse(JSON.stringify(m)))).toEqual({ ...m, metrics: undefined });
  });

  it('reads the false positives, target and warnings of newer thresholds, and older thresholds without them', () => {
    const m = validManifest();
    m.thresholds = {
      ...m.thresholds,
      rule: 'holdout-fpr',
      targetFpr: 0.01,
      falsePositives: { count: 0, of: 2, rate: 0, upper95: 0.78 },
      warnings: ['fpr 0.01 is finer than 2 normal images resolve'],
    };
    expect(parseModelManifest(JSON.parse(JSON.stringify(m))).thresholds).toEqual(m.thresholds);
    expect(parseModelManifest(JSON.parse(JSON.stringify(validManifest()))).thresholds).toEqual(validManifest().thresholds);
  });

  it.each([
    ['another format version', (m: any) => (m.formatVersion = 2), /formatVersion is 2; this build reads version 1/],
    ['a non-manifest', (m: any) => (m.format = 'zip'), /format is "zip"/],
    ['indices out of range', (m: any) => (m.embedding.indices = [1, 2, 3, 448]), /embedding.indices has 448, outside 0..447/],
    [
      'a tensor length that does not match its shape',
      (m: any) => (m.tensors.mean.bytes = 10),
      /tensors.mean.bytes is 10 but shape \[6, 4\] of float32 needs 96/,
    ],
    ['a tensor file with a path', (m: any) => (m.tensors.mean.file = '../x'), /tensors.mean.file must be a plain file name/],
    [
      'a factor of the wrong size',
      (m: any) => {
        m.tensors.invCholesky.shape = [6, 16];
        m.tensors.invCholesky.bytes = 6 * 16 * 4;
      },
      /invCholesky.shape must be \[6, 10\]/,
    ],
    ['a missing threshold', (m: any) => delete m.thresholds.image, /thresholds.image must be a finite number/],
    ['an unknown threshold rule', (m: any) => (m.thresholds.rule = 'guess'), /thresholds.rule must be one of validation-f1, holdout-mean-3std/],
    [
      'a false-positive count that is not a number',
      (m: any) => (m.thresholds.falsePositives = { count: 'x', of: 2, rate: 0, upper95: 1 }),
      /thresholds.falsePositives.count must be a finite number/,
    ],
  ])('rejects %s with a message naming the field', (_what, mutate, message) => {
    const m = JSON.parse(JSON.stringify(validManifest()));
    mutate(m);
    expect(() => parseModelManifest(m)).toThrow(message);
  });
});

describe('normalizeScore', () => {
  it('puts the threshold at 0.5 and clamps to [0, 1]', () => {
    const t = { image: 5, min: 1, max: 9 };
    expect(normalizeScore(5, t)).toBe(0.5);
    expect(normalizeScore(7, t)).toBe(0.75);
    expect(normalizeScore(100, t)).toBe(1);
    expect(normalizeScore(-100, t)).toBe(0);
  });
});
