import { falsePositivesAt, fprResolutionWarning, thresholdForRule, thresholdsFromNormalScores, thresholdsFromValidation, upperBound95 } from './thresholds';

// 20 normal scores 1..20: mean 10.5, sample std sqrt(35) = 5.916
const normals = Array.from({ length: 20 }, (_, i) => i + 1);

describe('thresholdForRule', () => {
  it('puts mean + k·std at k sample standard deviations', () => {
    expect(thresholdForRule(normals, { kind: 'sigma', k: 3 }).threshold).toBeCloseTo(10.5 + 3 * Math.sqrt(35), 12);
    expect(thresholdForRule(normals, { kind: 'sigma', k: 1 }).threshold).toBeCloseTo(10.5 + Math.sqrt(35), 12);
  });

  it('leaves floor(fpr·n) normal scores at or above an fpr threshold, halfway between two scores', () => {
    // 0.1 of 20: the two highest (19, 20) are flagged; the threshold lies between 18 and 19
    const { threshold, warnings } = thresholdForRule(normals, { kind: 'fpr', fpr: 0.1 });
    expect(threshold).toBe(18.5);
    expect(warnings).toEqual([]);
    expect(falsePositivesAt(normals, threshold)).toMatchObject({ count: 2, of: 20, rate: 0.1 });
    // 0.29 of 100 is 28.999999999999996 in floating point: still 29 false positives allowed
    const hundred = Array.from({ length: 100 }, (_, i) => i);
    expect(falsePositivesAt(hundred, thresholdForRule(hundred, { kind: 'fpr', fpr: 0.29 }).threshold).count).toBe(29);
  });

  it('never goes above the target when scores tie at the cut', () => {
    const tied = [1, 2, 3, 5, 5, 5, 5, 5, 5, 5];
    // 0.2 of 10 would cut inside the run of 5s: all of them would be flagged, so the threshold goes above it
    const { threshold } = thresholdForRule(tied, { kind: 'fpr', fpr: 0.2 });
    expect(falsePositivesAt(tied, threshold).count).toBe(0);
    expect(threshold).toBeGreaterThan(5);
  });

  it('says when the target is finer than 1/n: the threshold is then just above the highest normal score', () => {
    const { threshold, warnings } = thresholdForRule(normals, { kind: 'fpr', fpr: 0.01 });
    expect(threshold).toBeGreaterThan(20);
    expect(threshold).toBeLessThan(20 + 1e-9);
    expect(falsePositivesAt(normals, threshold).count).toBe(0);
    expect(warnings).toEqual([expect.stringMatching(/fpr 0.01 is finer than 20 normal images resolve \(steps of 1\/20 = 0.05\).*100 or more/)]);
  });
});

describe('fprResolutionWarning', () => {
  it('is undefined when n images resolve the target, and says how many would otherwise', () => {
    expect(fprResolutionWarning(0.05, 20)).toBeUndefined();
    expect(fprResolutionWarning(0.01, 32)).toMatch(/^fpr 0.01 is finer than 32 normal images resolve \(steps of 1\/32 = 0.0313\).*100 or more images/);
  });
});

describe('upperBound95', () => {
  // Clopper-Pearson one-sided 95 % bounds, from scipy.stats.beta.ppf(0.95, x + 1, n - x)
  it.each([
    [0, 20, 0.13911],
    [0, 32, 0.08937],
    [1, 32, 0.13985],
    [2, 20, 0.28262],
    [20, 20, 1],
  ])('%i of %i: %f', (x, n, expected) => {
    expect(upperBound95(x, n)).toBeCloseTo(expected, 4);
  });
});

describe('thresholdsFromNormalScores', () => {
  it('keeps the mean + 3·std rule and its name, and records what it lets through', () => {
    const t = thresholdsFromNormalScores(normals, 'holdout');
    expect(t.rule).toBe('holdout-mean-3std');
    expect(t.k).toBe(3);
    expect(t.image).toBeCloseTo(10.5 + 3 * Math.sqrt(35), 12);
    expect(t.pixel).toBe(t.image);
    expect(t.min).toBe(1);
    expect(t.max).toBeCloseTo(2 * t.image - 1, 12);
    expect(t.sampleCount).toBe(20);
    expect(t.falsePositives).toEqual({ count: 0, of: 20, rate: 0, upper95: expect.closeTo(0.13911, 4) });
  });

  it('names an fpr rule with its target and a sigma rule with its k', () => {
    expect(thresholdsFromNormalScores(normals, 'holdout', { kind: 'fpr', fpr: 0.1 })).toMatchObject({
      rule: 'holdout-fpr',
      targetFpr: 0.1,
      image: 18.5,
      falsePositives: { count: 2, rate: 0.1 },
    });
    expect(thresholdsFromNormalScores(normals, 'holdout', { kind: 'sigma', k: 2 })).toMatchObject({ rule: 'holdout-mean-kstd', k: 2 });
  });

  it('warns that thresholds set on the training images themselves under-estimate the false positives', () => {
    const t = thresholdsFromNormalScores(normals, 'training', { kind: 'fpr', fpr: 0.1 });
    expect(t.rule).toBe('training-fpr');
    expect(t.warnings).toEqual([expect.stringMatching(/training images themselves.*optimistic/)]);
  });
});

describe('thresholdsFromValidation', () => {
  it('records the false positives of the F1-optimal threshold among the normal validation images', () => {
    const scores = [1, 2, 3, 6, 4, 7, 8];
    const labels = [0, 0, 0, 0, 1, 1, 1];
    const t = thresholdsFromValidation(scores, labels);
    expect(t.rule).toBe('validation-f1');
    expect(t.image).toBe(4);
    expect(t.falsePositives).toMatchObject({ count: 1, of: 4, rate: 0.25 });
  });
});
