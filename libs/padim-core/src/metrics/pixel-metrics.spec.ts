import { auroc } from './auroc';
import { f1Max } from './f1-max';
import { pixelAurocF1 } from './pixel-metrics';

describe('pixelAurocF1', () => {
  it('equals auroc and f1Max on the concatenated pixels of maps of different sizes', () => {
    let s = 3;
    const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const maps = [36, 50, 9].map((n) => Float32Array.from({ length: n }, () => Math.floor(rnd() * 20) / 20));
    const masks = maps.map((m) => Uint8Array.from(m, (v) => (v + rnd() * 0.5 > 0.8 ? 255 : 0)));
    masks[2].fill(0); // a normal image contributes only negatives
    const flatScores = Float32Array.from(maps.flatMap((m) => Array.from(m)));
    const flatLabels = masks.flatMap((m) => Array.from(m, (v) => (v ? 1 : 0)));
    const got = pixelAurocF1(maps, masks);
    const f1 = f1Max(flatScores, flatLabels);
    expect(got.auroc).toBe(auroc(flatScores, flatLabels));
    expect(got).toEqual({ auroc: got.auroc, ...f1 });
  });

  it('throws on mismatched pairs and on a single class', () => {
    expect(() => pixelAurocF1([new Float32Array(4)], [new Uint8Array(3)])).toThrow(/maps\[0\] has length 4 but masks\[0\] has 3/);
    expect(() => pixelAurocF1([new Float32Array(4)], [new Uint8Array(4)])).toThrow(/pixelAurocF1: needs both classes/);
  });
});
