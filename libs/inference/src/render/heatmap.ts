import sharp from 'sharp';
import type { ModelThresholds, PixelImage } from '@padim-fleet/padim-core';

/** One channel of the "jet" colour map at v in [0, 1]: `centre` 3 for red, 2 for green, 1 for blue. */
function jetChannel(v: number, centre: number): number {
  return Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * v - centre))));
}

/** The "jet" colour map at t in [0, 1] (blue → cyan → yellow → red), as 8-bit RGB. */
export function jetColour(t: number): [number, number, number] {
  const v = Math.min(1, Math.max(0, t));
  return [jetChannel(v, 3), jetChannel(v, 2), jetChannel(v, 1)];
}

/**
 * The anomaly map as colour over the image. Colours use the model's normalised scale, so the same
 * colour means the same score on every image: blue is normal, red is at or beyond 2× the threshold distance.
 */
export async function renderOverlayPng(image: PixelImage, map: Float32Array, thresholds: Pick<ModelThresholds, 'pixel' | 'min' | 'max'>, side: number): Promise<Buffer> {
  if (map.length !== side * side) throw new Error(`anomaly map has ${map.length} values, expected ${side}x${side}`);
  const range = thresholds.max - thresholds.min || 1;
  const out = Buffer.alloc(side * side * 3);
  const offsetX = Math.round((image.width - side) / 2);
  const offsetY = Math.round((image.height - side) / 2);
  const ch = image.channels;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const i = y * side + x;
      const s = ((y + offsetY) * image.width + (x + offsetX)) * ch;
      const r = image.data[s];
      const g = ch >= 3 ? image.data[s + 1] : r;
      const b = ch >= 3 ? image.data[s + 2] : r;
      // Clamped as jetColour clamps; per channel, so no array is made per pixel.
      const v = Math.min(1, Math.max(0, (map[i] - thresholds.pixel) / range + 0.5));
      // Normal regions stay mostly the photo; anomalous ones mostly colour.
      const a = 0.25 + 0.5 * v;
      out[i * 3] = Math.round(r * (1 - a) + jetChannel(v, 3) * a);
      out[i * 3 + 1] = Math.round(g * (1 - a) + jetChannel(v, 2) * a);
      out[i * 3 + 2] = Math.round(b * (1 - a) + jetChannel(v, 1) * a);
    }
  }
  return sharp(out, { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 3 }).toBuffer();
}

/** The binary anomaly mask (255 where the map reaches the pixel threshold) as a grey PNG. */
export async function renderMaskPng(map: Float32Array, pixelThreshold: number, side: number): Promise<Buffer> {
  const out = Buffer.alloc(side * side);
  for (let i = 0; i < out.length; i++) out[i] = map[i] >= pixelThreshold ? 255 : 0;
  return sharp(out, { raw: { width: side, height: side, channels: 1 } }).toColourspace('b-w').png({ compressionLevel: 3 }).toBuffer();
}
