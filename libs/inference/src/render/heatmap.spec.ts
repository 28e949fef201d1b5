import sharp from 'sharp';
import { jetColour, renderMaskPng, renderOverlayPng } from './heatmap';

/** The PNG's pixels in its own channels (grey stays one channel). */
async function rawPixels(png: Buffer): Promise<{ data: Buffer; channels: number; width: number }> {
  const { channels } = await sharp(png).metadata();
  const image = sharp(png);
  const { data, info } = await (channels === 1 ? image.toColourspace('b-w') : image).raw().toBuffer({ resolveWithObject: true });
  return { data, channels: channels ?? 0, width: info.width };
}

it('maps 0, ½ and 1 of the jet scale to blue, green and red', () => {
  expect(jetColour(0)).toEqual([0, 0, 128]);
  expect(jetColour(0.5)).toEqual([128, 255, 128]);
  expect(jetColour(1)).toEqual([128, 0, 0]);
  expect(jetColour(-3)).toEqual(jetColour(0));
  expect(jetColour(7)).toEqual(jetColour(1));
});

it('blends the jet colour of the normalised map over the image, more colour where the map is higher', async () => {
  const side = 4;
  const grey = { data: new Uint8Array(side * side).fill(100), width: side, height: side, channels: 1 as const };
  const thresholds = { pixel: 10, min: 0, max: 20 };
  // Row 0 at the threshold (½ of the scale), row 1 at the top of it, rows 2–3 far below (clamped to 0).
  const map = new Float32Array(side * side);
  map.fill(10, 0, 4).fill(20, 4, 8).fill(-50, 8, 16);
  const { data, channels, width } = await rawPixels(await renderOverlayPng(grey, map, thresholds, side));
  expect([channels, width]).toEqual([3, side]);
  const expected = (t: number) => {
    const a = 0.25 + 0.5 * t;
    return jetColour(t).map((c) => Math.round(100 * (1 - a) + c * a));
  };
  // The blend is in 8-bit fixed point from a table of the scale: within one level of the exact one.
  const near = (got: Buffer, want: number[]) => [...got].forEach((v, k) => expect(Math.abs(v - want[k])).toBeLessThanOrEqual(1));
  near(data.subarray(0, 3), expected(0.5));
  near(data.subarray(4 * 3, 4 * 3 + 3), expected(1));
  near(data.subarray(8 * 3, 8 * 3 + 3), expected(0));
  // A map above the scale's top is drawn as its top, below its bottom as its bottom.
  const beyond = await rawPixels(await renderOverlayPng(grey, new Float32Array(side * side).fill(1e6), thresholds, side));
  expect([...beyond.data.subarray(0, 3)]).toEqual([...data.subarray(4 * 3, 4 * 3 + 3)]);
  await expect(renderOverlayPng(grey, new Float32Array(3), thresholds, side)).rejects.toThrow(/anomaly map has 3 values, expected 4x4/);
});

it('marks the pixels at or above the pixel threshold in the mask', async () => {
  const map = Float32Array.from([0, 5, 10, 15]);
  const { data, channels } = await rawPixels(await renderMaskPng(map, 10, 2));
  expect(channels).toBe(1);
  expect([...data]).toEqual([0, 0, 255, 255]);
});
