import { describe, expect, it } from '@jest/globals';
import { aupro, auroc, DEFAULT_BLOCKED_KERNEL_BYTES, f1Max } from '@padim-fleet/padim-core';
import type { LabelledImage } from '@padim-fleet/contracts';
import { evaluationDistances, evaluationMetrics, flattenPixels } from './evaluate-model';
import { modelMemory } from '../runtime/memory-need';
import type { ScoredImage } from './score-images';

const SIDE = 4;

/** A scored image whose map is `level` everywhere but `hot` pixels at 2·level, with its mask when given. */
function scored(file: string, label: 0 | 1, level: number, mask?: number[]): ScoredImage<LabelledImage> {
  const map = new Float32Array(SIDE * SIDE).fill(level);
  for (const i of mask ?? []) map[i] = 2 * level;
  const result: ScoredImage<LabelledImage> = { item: { file, defect: label ? 'crack' : 'good', label }, score: label ? 2 * level : level, map };
  if (mask) {
    result.mask = new Uint8Array(SIDE * SIDE);
    for (const i of mask) result.mask[i] = 1;
  }
  return result;
}

describe('evaluationMetrics', () => {
  const good = [scored('g0', 0, 1), scored('g1', 0, 1.5), scored('g2', 0, 3)];

  it('gives image metrics and null pixel metrics, saying why, when no defective image has a mask', () => {
    const defective = [scored('d0', 1, 2), scored('d1', 1, 4)].map(({ mask: _none, ...r }) => r);
    const m = evaluationMetrics([...good, ...defective], SIDE);
    const scores = [1, 1.5, 3, 4, 8];
    const labels = [0, 0, 0, 1, 1];
    expect(m).toMatchObject({ imageAUROC: auroc(scores, labels), imageF1: f1Max(scores, labels).f1, images: 5, anomalous: 2, failed: 0 });
    expect(m).toMatchObject({ pixelAUROC: null, aupro: null, pixelF1: null, pixelF1Threshold: null });
    expect(m.pixelMetricsSkipped).toBe('no ground-truth masks for the 2 defective images (no ground_truth/<defect>/<name>_mask.png): pixel metrics need them');
  });

  it('gives null pixel metrics when the masks mark no anomalous pixel', () => {
    const m = evaluationMetrics([...good, scored('d0', 1, 2, []), scored('d1', 1, 4, [])], SIDE);
    expect(m).toMatchObject({ pixelAUROC: null, aupro: null, pixelF1: null });
    expect(m.pixelMetricsSkipped).toBe('the 2 ground-truth masks mark no anomalous pixel: pixel metrics need some');
  });

  it('computes the pixel metrics over the normal images and the defective ones with a mask', () => {
    const withMask = [scored('d0', 1, 2, [0, 1, 4]), scored('d1', 1, 4, [10])];
    const noMask = { ...scored('d2', 1, 9, [3]), mask: undefined };
    const m = evaluationMetrics([...good, ...withMask, noMask], SIDE);
    const used = [...good, ...withMask];
    const masks = used.map((r) => r.mask ?? new Uint8Array(SIDE * SIDE));
    const flat = flattenPixels(
      used.map((r) => r.map!),
      masks,
    );
    expect(m.pixelMetricsSkipped).toBeNull();
    expect(m.pixelAUROC).toBe(auroc(flat.scores, flat.labels));
    expect(m.pixelF1).toBe(f1Max(flat.scores, flat.labels).f1);
    expect(m.aupro).toBe(
      aupro(
        used.map((r) => r.map!),
        masks,
        { h: SIDE, w: SIDE },
        0.3,
      ),
    );
    expect(m.anomalous).toBe(3);
  });

  it('names what is missing when no defective image scored', () => {
    const failed: ScoredImage<LabelledImage> = { item: { file: 'd0.png', defect: 'crack', label: 1 }, error: 'd0.png: corrupt or truncated image' };
    expect(() => evaluationMetrics([...good, failed], SIDE)).toThrow(
      'evaluation needs both normal and defective images that score, and no defective image scored: all 1 failed to score (first: d0.png: d0.png: corrupt or truncated image)',
    );
  });
});

describe('evaluationDistances', () => {
  it('takes blocked distances once the whole-model kernel would outgrow the blocked kernel, the whole-model kernel below', () => {
    // resnet18 d=100 at 256×256: 0.10 GB of kernel; resnet50 d=550: 2.6 GB.
    expect(evaluationDistances(4096, 100)).toBe('auto');
    expect(evaluationDistances(4096, 550)).toBe('blocked');
    expect(modelMemory(4096, 550).kernelBytes).toBeGreaterThan(DEFAULT_BLOCKED_KERNEL_BYTES);
  });
});
