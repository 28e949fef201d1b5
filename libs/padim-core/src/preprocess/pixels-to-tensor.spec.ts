import { KERAS_CAFFE_NORMALIZATION, TORCHVISION_NORMALIZATION } from '../backbone/backbone-spec';
import { centerCropOffsets, writeNormalizedChw } from './pixels-to-tensor';

describe('writeNormalizedChw', () => {
  it('applies torchvision normalisation to RGB in CHW order', () => {
    // One pixel (255, 0, 128): ((255/255) - 0.485)/0.229, (0 - 0.456)/0.224, (128/255 - 0.406)/0.225
    const out = new Float32Array(3);
    writeNormalizedChw({ data: Uint8Array.from([255, 0, 128]), width: 1, height: 1, channels: 3 }, TORCHVISION_NORMALIZATION, out, 0);
    expect(out[0]).toBeCloseTo((1 - 0.485) / 0.229, 5);
    expect(out[1]).toBeCloseTo((0 - 0.456) / 0.224, 5);
    expect(out[2]).toBeCloseTo((128 / 255 - 0.406) / 0.225, 5);
  });

  it('swaps to BGR and subtracts the caffe means', () => {
    const out = new Float32Array(3);
    writeNormalizedChw({ data: Uint8Array.from([10, 20, 30]), width: 1, height: 1, channels: 3 }, KERAS_CAFFE_NORMALIZATION, out, 0);
    expect(Array.from(out)).toEqual([30 - 103.939, 20 - 116.779, 10 - 123.68].map(Math.fround));
  });

  it('replicates grey, drops alpha and writes at the batch index', () => {
    const grey = { data: Uint8Array.from([0, 255, 51, 102]), width: 2, height: 2, channels: 1 as const };
    const identity = { channelOrder: 'rgb' as const, scale: 1, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] };
    const out = new Float32Array(2 * 3 * 4).fill(-1);
    writeNormalizedChw(grey, identity, out, 1);
    expect(Array.from(out.subarray(0, 12))).toEqual(new Array(12).fill(-1));
    expect(Array.from(out.subarray(12))).toEqual([0, 255, 51, 102, 0, 255, 51, 102, 0, 255, 51, 102]);
    const rgba = { data: Uint8Array.from([1, 2, 3, 200]), width: 1, height: 1, channels: 4 as const };
    const px = new Float32Array(3);
    writeNormalizedChw(rgba, identity, px, 0);
    expect(Array.from(px)).toEqual([1, 2, 3]);
  });

  it('takes the centre crop', () => {
    // 4x4 image with value = y*4 + x; centre 2x2 crop = rows 1..2, cols 1..2
    const data = Uint8Array.from({ length: 16 }, (_, i) => i);
    const identity = { channelOrder: 'rgb' as const, scale: 1, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] };
    const out = new Float32Array(12);
    writeNormalizedChw({ data, width: 4, height: 4, channels: 1 }, identity, out, 0, 2);
    expect(Array.from(out.subarray(0, 4))).toEqual([5, 6, 9, 10]);
    // torchvision: 256 → 224 crops 16 from each side
    expect(centerCropOffsets(256, 256, 224)).toEqual({ top: 16, left: 16 });
  });

  it('rejects a buffer that does not match its shape, and a crop larger than the image', () => {
    const identity = TORCHVISION_NORMALIZATION;
    expect(() => writeNormalizedChw({ data: new Uint8Array(5), width: 2, height: 2, channels: 1 }, identity, new Float32Array(12), 0)).toThrow(
      /5 bytes, expected 2x2x1/,
    );
    expect(() => centerCropOffsets(10, 10, 11)).toThrow(/crop 11 is larger/);
  });
});
