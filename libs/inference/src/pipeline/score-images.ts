import type { PixelImage } from '@padim-fleet/padim-core';
import { decodeMask } from '../images/decode-image';
import type { ImageReader } from '../images/decode-queue';
import { imageBatches } from './image-batches';
import { PadimScorer, maxOf } from './padim-scorer';
import { ProgressEvent, ProgressListener } from './progress';

export interface ScoredImage<T> {
  item: T;
  /** Image score: the maximum of the anomaly map. */
  score?: number;
  /** Where the maximum is, in the side×side map. */
  maxLocation?: { x: number; y: number };
  map?: Float32Array;
  /** Ground-truth mask at the map's size, when the item names one. */
  mask?: Uint8Array;
  error?: string;
}

export interface ScoreOptions {
  batchSize?: number;
  pixelLimit?: number;
  /** Keep each anomaly map in the results (evaluation); otherwise only `onResult` sees them. */
  collectMaps?: boolean;
  /** Called once per image as its result is ready, with its map and decoded pixels (for heatmaps). */
  onResult?: (result: ScoredImage<unknown> & { map?: Float32Array; pixels?: PixelImage }) => Promise<void> | void;
  onProgress?: ProgressListener;
  stage?: ProgressEvent['stage'];
  /** Reads an image's bytes by reference; default: `file` is a local path. */
  read?: ImageReader;
}

/**
 * Scores images with a model: decode → backbone → Mahalanobis → anomaly map, with the backbone running the next
 * batches (one per backbone session) while a batch's maps are made. Unreadable images become rows with an error.
 */
export async function scoreImages<T extends { file: string; mask?: string }>(
  scorer: PadimScorer,
  items: T[],
  opts: ScoreOptions = {},
): Promise<ScoredImage<T>[]> {
  const m = scorer.manifest;
  const side = scorer.side;
  const results = new Map<T, ScoredImage<T>>();
  let done = 0;
  // One batch per backbone session in flight while the oldest is settled; results are taken in order.
  const inFlight: { maps: Promise<Float32Array>; items: T[]; pixels: PixelImage[] }[] = [];
  const report = () => opts.onProgress?.({ stage: opts.stage ?? 'score', done, total: items.length });

  const settle = async (job: { maps: Promise<Float32Array>; items: T[]; pixels: PixelImage[] }) => {
    const maps = await job.maps;
    const S = side * side;
    for (let i = 0; i < job.items.length; i++) {
      const item = job.items[i];
      const map = maps.subarray(i * S, (i + 1) * S);
      const peak = maxOf(map);
      const result: ScoredImage<T> = { item, score: peak.value, maxLocation: { x: peak.index % side, y: Math.floor(peak.index / side) } };
      if (item.mask) result.mask = await decodeMask(item.mask, { width: side, height: side });
      if (opts.collectMaps) result.map = map;
      if (opts.onResult) await opts.onResult({ ...result, map, pixels: job.pixels[i] });
      results.set(item, result);
      done++;
    }
    report();
  };

  for await (const batch of imageBatches(items, {
    size: m.input.size,
    crop: m.input.crop,
    normalization: m.backbone.normalization,
    batchSize: opts.batchSize ?? 8,
    pixelLimit: opts.pixelLimit,
    keepPixels: opts.onResult !== undefined,
    read: opts.read,
  })) {
    for (const f of batch.failures) {
      const failed = { item: f.item, error: f.error };
      results.set(f.item, failed);
      if (opts.onResult) await opts.onResult(failed);
      done++;
    }
    if (batch.n === 0) continue;
    const n = batch.n;
    const job = { maps: scorer.patchDistances(batch.tensor, n).then((dist) => scorer.anomalyMaps(dist, n)), items: batch.items, pixels: batch.pixels };
    // Awaited in turn below; until then a failure must not count as unhandled.
    job.maps.catch(() => undefined);
    inFlight.push(job);
    if (inFlight.length > scorer.lanes) await settle(inFlight.shift()!);
  }
  while (inFlight.length > 0) await settle(inFlight.shift()!);
  return items.map((item) => results.get(item)!);
}
