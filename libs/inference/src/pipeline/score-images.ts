import type { PixelImage } from '@padim-fleet/padim-core';
import { decodeMask } from '../images/decode-image';
import type { ImageReader } from '../images/decode-queue';
import { thresholdPassBytes } from '../runtime/memory-need';
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
      const map = maps.subarray(i * S, (i + 1) * S);
      const result = await scoredItem(job.items[i], map, side, opts.collectMaps);
      if (opts.onResult) await opts.onResult({ ...result, map, pixels: job.pixels[i] });
      results.set(job.items[i], result);
      done++;
    }
    report();
  };

  for await (const batch of imageBatches(items, { ...batchOptions(scorer, opts), keepPixels: opts.onResult !== undefined })) {
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

/**
 * Scores images as scoreImages does, to the same results, but in passes: the embeddings of up to
 * `passBytes` of images (default thresholdPassBytes: 29 images of resnet50 d=550 at 256²) are made first, then their distances in one call (for a scorer with blocked
 * distances: one pass over the model's factors, each block laid out once for all those images), then
 * their maps. It holds those embeddings instead of a copy of the factors; the backbone rests while a
 * pass's distances are computed.
 */
export async function scoreImagesInPasses<T extends { file: string; mask?: string }>(
  scorer: PadimScorer,
  items: T[],
  opts: Omit<ScoreOptions, 'onResult'> & { passBytes?: number } = {},
): Promise<ScoredImage<T>[]> {
  const m = scorer.manifest;
  const side = scorer.side;
  const S = side * side;
  const imageBytes = m.embedding.d * scorer.positions * 4;
  const passImages = Math.max(1, Math.floor((opts.passBytes ?? thresholdPassBytes(scorer.positions, m.embedding.d)) / imageBytes));
  const results = new Map<T, ScoredImage<T>>();
  let done = 0;
  const report = () => opts.onProgress?.({ stage: opts.stage ?? 'score', done, total: items.length });

  // Backbone calls in flight, one per backbone session, and the embedded batches of the pass so far.
  const inFlight: Promise<void>[] = [];
  let pass: { items: T[]; n: number; data: Float32Array }[] = [];
  let passCount = 0;
  const scorePass = async () => {
    await Promise.all(inFlight.splice(0));
    const batches = pass;
    pass = [];
    passCount = 0;
    const distances = await scorer.distancesOfBatches(batches);
    for (let b = 0; b < batches.length; b++) {
      const { items: batchItems, n } = batches[b];
      // The embeddings are done with: only the distances and maps are kept from here.
      batches[b].data = new Float32Array(0);
      const maps = await scorer.anomalyMaps(distances[b], n);
      for (let i = 0; i < n; i++) {
        results.set(batchItems[i], await scoredItem(batchItems[i], maps.subarray(i * S, (i + 1) * S), side, opts.collectMaps));
        done++;
      }
    }
    report();
  };

  for await (const batch of imageBatches(items, batchOptions(scorer, opts))) {
    for (const f of batch.failures) {
      results.set(f.item, { item: f.item, error: f.error });
      done++;
    }
    if (batch.n === 0) continue;
    const entry: { items: T[]; n: number; data: Float32Array } = { items: batch.items, n: batch.n, data: new Float32Array(0) };
    pass.push(entry);
    passCount += batch.n;
    const embedding = scorer.embeddings(batch.tensor, batch.n).then((data) => void (entry.data = data));
    // Awaited in turn below; until then a failure must not count as unhandled.
    embedding.catch(() => undefined);
    inFlight.push(embedding);
    if (passCount >= passImages) await scorePass();
    else if (inFlight.length > scorer.lanes) await inFlight.shift();
  }
  if (pass.length > 0) await scorePass();
  return items.map((item) => results.get(item)!);
}

/** How a model's images are decoded and batched. */
function batchOptions(scorer: PadimScorer, opts: ScoreOptions) {
  const m = scorer.manifest;
  return {
    size: m.input.size,
    crop: m.input.crop,
    normalization: m.backbone.normalization,
    batchSize: opts.batchSize ?? 8,
    pixelLimit: opts.pixelLimit,
    read: opts.read,
  };
}

/** An image's result from its anomaly map: the peak and where it is, its mask at the map's size, and the map when kept. */
async function scoredItem<T extends { mask?: string }>(item: T, map: Float32Array, side: number, collectMaps?: boolean): Promise<ScoredImage<T>> {
  const peak = maxOf(map);
  const result: ScoredImage<T> = { item, score: peak.value, maxLocation: { x: peak.index % side, y: Math.floor(peak.index / side) } };
  if (item.mask) result.mask = await decodeMask(item.mask, { width: side, height: side });
  if (collectMaps) result.map = map;
  return result;
}
