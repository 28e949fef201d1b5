import type { Normalization } from '../backbone/backbone-spec';

/** Decoded 8-bit pixels, interleaved (HWC), with 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA) channels. */
export interface PixelImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
}

/** Offsets of the centre crop of `size`×`size` inside a `width`×`height` image (torchvision CenterCrop rounding). */
export function centerCropOffsets(width: number, height: number, size: number): { top: number; left: number } {
  if (size > width || size > height) {
    throw new Error(`crop ${size} is larger than the image (${width}x${height})`);
  }
  return { top: Math.round((height - size) / 2), left: Math.round((width - size) / 2) };
}

/**
 * Writes one image into `out` (an NCHW float32 batch) at batch index `index`: grey is replicated to RGB,
 * alpha is dropped, an optional centre crop is taken, then x = (pixel * scale - mean[c]) / std[c] in the
 * backbone's channel order. The pixels must already have the network's input size (before the crop).
 */
export function writeNormalizedChw(image: PixelImage, normalization: Normalization, out: Float32Array, index: number, crop?: number): void {
  const { width, height, channels, data } = image;
  if (data.length !== width * height * channels) {
    throw new Error(`pixel buffer has ${data.length} bytes, expected ${width}x${height}x${channels}`);
  }
  const size = crop ?? 0;
  const outW = crop ? size : width;
  const outH = crop ? size : height;
  const { top, left } = crop ? centerCropOffsets(width, height, size) : { top: 0, left: 0 };
  const plane = outW * outH;
  const base = index * 3 * plane;
  if (base + 3 * plane > out.length) {
    throw new Error(`batch buffer too small for image ${index} of ${outW}x${outH}`);
  }
  // Source channel feeding each output channel: RGB order reads R,G,B; BGR reads B,G,R; grey reads 0 thrice.
  const rgb = channels >= 3 ? [0, 1, 2] : [0, 0, 0];
  const order = normalization.channelOrder === 'rgb' ? rgb : [rgb[2], rgb[1], rgb[0]];
  const meanRgb = normalization.mean;
  const stdRgb = normalization.std;
  for (let c = 0; c < 3; c++) {
    // Normalisation constants are given per output channel, in the backbone's own order.
    const scale = normalization.scale / stdRgb[c];
    const shift = meanRgb[c] / stdRgb[c];
    const src = order[c];
    const dst = base + c * plane;
    for (let y = 0; y < outH; y++) {
      let s = ((y + top) * width + left) * channels + src;
      let d = dst + y * outW;
      for (let x = 0; x < outW; x++, s += channels, d++) out[d] = data[s] * scale - shift;
    }
  }
}

/** The side of the tensor a backbone sees for a given resize and optional crop. */
export function tensorSide(size: number, crop?: number): number {
  return crop ?? size;
}
