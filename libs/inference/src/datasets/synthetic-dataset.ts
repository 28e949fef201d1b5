import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { mulberry32 } from '@padim-fleet/padim-core';
import sharp from 'sharp';

export interface SyntheticDatasetOptions {
  size?: number;
  train?: number;
  testGood?: number;
  /** Defective test images per defect type. */
  testPerDefect?: number;
  seed?: number;
}

export const SYNTHETIC_DEFECTS = ['scratch', 'stain', 'hole'] as const;

/** A woven texture: two crossing thread families with per-image jitter in phase, tone and noise. */
function texture(size: number, rand: () => number): Float32Array {
  const img = new Float32Array(size * size * 3);
  const phaseX = rand() * Math.PI * 2;
  const phaseY = rand() * Math.PI * 2;
  const tone = 0.9 + 0.2 * rand();
  const period = 9 + rand() * 0.6;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const warp = Math.sin((2 * Math.PI * x) / period + phaseX) * 0.5 + 0.5;
      const weft = Math.sin((2 * Math.PI * y) / period + phaseY) * 0.5 + 0.5;
      const over = ((Math.floor(x / period) + Math.floor(y / period)) & 1) === 0 ? warp : weft;
      const v = (0.35 + 0.4 * over) * tone + (rand() - 0.5) * 0.06;
      const i = (y * size + x) * 3;
      img[i] = v * 0.85;
      img[i + 1] = v * 0.75;
      img[i + 2] = v * 0.55;
    }
  }
  return img;
}

/** Paints one defect into img and its mask; returns nothing, both are modified. */
function paintDefect(kind: (typeof SYNTHETIC_DEFECTS)[number], img: Float32Array, mask: Uint8Array, size: number, rand: () => number): void {
  const cx = size * (0.25 + 0.5 * rand());
  const cy = size * (0.25 + 0.5 * rand());
  const set = (x: number, y: number, rgb: [number, number, number], blend: number) => {
    if (x < 0 || y < 0 || x >= size || y >= size) return;
    const i = y * size + x;
    for (let c = 0; c < 3; c++) img[i * 3 + c] = img[i * 3 + c] * (1 - blend) + rgb[c] * blend;
    mask[i] = 255;
  };
  if (kind === 'scratch') {
    const angle = rand() * Math.PI;
    const length = size * (0.2 + 0.2 * rand());
    for (let t = -length / 2; t <= length / 2; t += 0.5) {
      const x = cx + Math.cos(angle) * t;
      const y = cy + Math.sin(angle) * t + Math.sin(t / 7) * 2;
      for (let w = -1; w <= 1; w++) set(Math.round(x - Math.sin(angle) * w), Math.round(y + Math.cos(angle) * w), [0.95, 0.95, 0.9], 0.85);
    }
  } else if (kind === 'stain') {
    const r = size * (0.05 + 0.05 * rand());
    for (let y = Math.floor(cy - r); y <= cy + r; y++) {
      for (let x = Math.floor(cx - r); x <= cx + r; x++) {
        const d = Math.hypot((x - cx) / r, (y - cy) / (r * 0.7));
        if (d <= 1) set(x, y, [0.45, 0.1, 0.05], 0.6 * (1 - d * d) + 0.3);
      }
    }
  } else {
    const r = size * (0.02 + 0.025 * rand());
    for (let y = Math.floor(cy - r); y <= cy + r; y++) {
      for (let x = Math.floor(cx - r); x <= cx + r; x++) if (Math.hypot(x - cx, y - cy) <= r) set(x, y, [0.02, 0.02, 0.02], 0.95);
    }
  }
}

async function writePng(file: string, data: Float32Array | Uint8Array, size: number, channels: 1 | 3): Promise<void> {
  const bytes = data instanceof Uint8Array ? Buffer.from(data) : Buffer.from(Uint8Array.from(data, (v) => Math.round(255 * Math.min(1, Math.max(0, v)))));
  await fs.mkdir(path.dirname(file), { recursive: true });
  await sharp(bytes, { raw: { width: size, height: size, channels } })
    .png()
    .toFile(file);
}

/**
 * Writes an MVTec-style category (train/good, test/<defect>, ground_truth/<defect>/<name>_mask.png)
 * of a procedural woven texture with painted scratches, stains and holes.
 */
export async function generateSyntheticDataset(dir: string, opts: SyntheticDatasetOptions = {}): Promise<{ train: number; test: number }> {
  const size = opts.size ?? 256;
  const rand = mulberry32(opts.seed ?? 7);
  const name = (i: number) => `${String(i).padStart(3, '0')}.png`;
  const nTrain = opts.train ?? 60;
  const nGood = opts.testGood ?? 12;
  const nPer = opts.testPerDefect ?? 8;
  for (let i = 0; i < nTrain; i++) await writePng(path.join(dir, 'train', 'good', name(i)), texture(size, rand), size, 3);
  for (let i = 0; i < nGood; i++) await writePng(path.join(dir, 'test', 'good', name(i)), texture(size, rand), size, 3);
  for (const kind of SYNTHETIC_DEFECTS) {
    for (let i = 0; i < nPer; i++) {
      const img = texture(size, rand);
      const mask = new Uint8Array(size * size);
      paintDefect(kind, img, mask, size, rand);
      await writePng(path.join(dir, 'test', kind, name(i)), img, size, 3);
      await writePng(path.join(dir, 'ground_truth', kind, `${String(i).padStart(3, '0')}_mask.png`), mask, size, 1);
    }
  }
  return { train: nTrain, test: nGood + nPer * SYNTHETIC_DEFECTS.length };
}
