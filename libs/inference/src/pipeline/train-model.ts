import {
  EmbeddingSelection,
  GaussianAccumulator,
  ModelManifest,
  accumulateEmbeddingGroup,
  GramGroup,
  createGaussianAccumulator,
  createResidentGaussianAccumulator,
  mergeGroupStatistics,
  splitHoldout,
  triangleSize,
  COVARIANCE_REGULARIZATION,
} from '@padim-fleet/padim-core';
import type { ModelTensors } from '../model-io/model-folder';
import { createGramSession } from '../graphs/gram-graph';
import { finalizeInParallel } from '../runtime/finalize-in-parallel';
import { EmbeddingExtractor, EmbeddingRequest, GroupStatistics, resolveEmbedding, runtimeThreads } from './embedding-extractor';
import { EmbeddedImages, ManifestBaseInput, ThresholdOptions, manifestWithThresholds, modelManifestBase } from './fit-model';
import { ImageBatch, InputOptions, imageBatches } from './image-batches';
import { ProgressListener } from './progress';
import { ComomentPath, FLOAT64_GROUP_IMAGES, defaultComomentPath, gramGroupImages } from './comoment-path';

// Held out here and when a run is planned (libs/fleet, without the inference stack) alike.
export { splitHoldout } from '@padim-fleet/padim-core';

export const DEFAULT_IMAGE_SIZE = 256;
export const DEFAULT_BATCH_SIZE = 8;
export const DEFAULT_HOLDOUT = 0.1;
/**
 * Images per run of the in-graph path: the group is one backbone batch. Each group's packed float32
 * co-moments (P·d(d+1)/2, 83 MB for resnet18 d=100) come to the host and are merged into the float64
 * accumulator once, so a group of B images costs 83/B MB of transfer and merge per image (the
 * embeddings alone are 1.6 MB per image): B bounds the backbone's working memory, and a large B pays.
 */
export const IN_GRAPH_GROUP_IMAGES = 64;

export interface AccumulateResult {
  accumulator: GaussianAccumulator;
  used: string[];
  skipped: { file: string; error: string }[];
}

/**
 * From this many bytes of float64 accumulator (resnet50 d=550: 4.96 GB), the backbone takes
 * LARGE_MODEL_BATCH_SIZE images a batch unless told otherwise: two sessions' arenas then take about
 * 0.5 GB less, which keeps `padim train` within 1.3 times its accumulator, while the backbone is a small
 * part of such a training's time (the co-moments and their finalisation take most of it).
 */
export const LARGE_ACCUMULATOR_BYTES = 2e9;
export const LARGE_MODEL_BATCH_SIZE = 4;

/** Images per backbone batch when none is given, by the size of the model's accumulator. */
export function defaultBatchSize(positions: number, d: number): number {
  return positions * (d + triangleSize(d)) * 8 >= LARGE_ACCUMULATOR_BYTES ? LARGE_MODEL_BATCH_SIZE : DEFAULT_BATCH_SIZE;
}

/**
 * Streams images through the backbone into a Gaussian accumulator. The backbone runs the next batches
 * (one per backbone session) while a batch is accumulated and later ones decode, so the CPU work
 * overlaps inference.
 */
export async function accumulateImages(files: string[], extractor: EmbeddingExtractor, opts: AccumulateOptions = {}): Promise<AccumulateResult> {
  const { height, width } = extractor.grid;
  const path = opts.comoments ?? defaultComomentPath(height * width, extractor.d, extractor.device);
  const acc = opts.accumulator ?? (path === 'float64' ? createResidentGaussianAccumulator : createGaussianAccumulator)(height * width, extractor.d);
  if (acc.positions !== height * width || acc.dim !== extractor.d) {
    throw new Error(`accumulator is ${acc.positions} positions × d=${acc.dim}, the extractor gives ${height * width} × d=${extractor.d}`);
  }
  if (path === 'in-graph') return streamGroupStatistics(files, extractor, acc, opts);
  if (path === 'float64') {
    return streamIntoAccumulator(files, extractor, acc, float64Group(acc), opts);
  }
  const gramSession = await createGramSession(extractor.d);
  try {
    // One group for the whole pass: its wasm memory is sized and first touched once.
    const groupImages = gramGroupImages(acc.positions, acc.dim);
    const group = new GramGroup(acc.positions, acc.dim, Math.max(groupImages, opts.batchSize ?? DEFAULT_BATCH_SIZE));
    const sink: GroupSink = {
      capacity: group.capacity,
      size: () => group.size,
      add: (data, n) => group.add(data, n),
      flush: () => group.mergeInto(acc, gramSession.gram),
      target: groupImages,
    };
    return await streamIntoAccumulator(files, extractor, acc, sink, opts);
  } finally {
    await gramSession.release();
  }
}

/**
 * Where streamIntoAccumulator puts each batch of embeddings: `add` takes it (the batch's array is not
 * used after `flush`), `flush` adds what is held to the accumulator. A group is flushed once it holds
 * `target` images, and before a batch that would take it past `capacity`.
 */
interface GroupSink {
  capacity: number;
  target: number;
  size(): number;
  add(data: Float32Array, n: number): void;
  flush(): Promise<unknown>;
}

/** The float64 kernel's groups: the batches as they are, FLOAT64_GROUP_IMAGES at a time. */
function float64Group(acc: GaussianAccumulator): GroupSink {
  let batches: { data: Float32Array; n: number }[] = [];
  let size = 0;
  return {
    capacity: Infinity,
    target: FLOAT64_GROUP_IMAGES,
    size: () => size,
    add: (data, n) => {
      batches.push({ data, n });
      size += n;
    },
    flush: async () => {
      accumulateEmbeddingGroup(acc, batches);
      batches = [];
      size = 0;
    },
  };
}

export interface AccumulateOptions extends InputOptions {
  accumulator?: GaussianAccumulator;
  onProgress?: ProgressListener;
  /** @defaultValue defaultComomentPath(positions, d, device) */
  comoments?: ComomentPath;
  /** Images per backbone run on the 'in-graph' path (instead of batchSize). @defaultValue IN_GRAPH_GROUP_IMAGES */
  groupImages?: number;
  /** Called with each group's statistics as they reach the host ('in-graph' path), e.g. to count their bytes. */
  onGroup?: (group: GroupStatistics) => void;
}

/**
 * The 'in-graph' path: each decoded batch of groupImages images is one run of backbone + embedding head
 * + group statistics, merged into the float64 accumulator on the host while the next groups run (one in
 * flight per backbone session).
 */
async function streamGroupStatistics(
  files: string[],
  extractor: EmbeddingExtractor,
  acc: GaussianAccumulator,
  opts: AccumulateOptions,
): Promise<AccumulateResult> {
  const groupImages = opts.groupImages ?? IN_GRAPH_GROUP_IMAGES;
  if (!Number.isInteger(groupImages) || groupImages < 1) throw new Error(`groupImages must be a positive integer, got ${groupImages}`);
  const used: string[] = [];
  const skipped: { file: string; error: string }[] = [];
  const inFlight: Promise<GroupStatistics>[] = [];
  let done = 0;
  const settle = async (job: Promise<GroupStatistics>) => {
    const group = await job;
    opts.onGroup?.(group);
    mergeGroupStatistics(acc, group);
    done += group.n;
    opts.onProgress?.({ stage: 'extract', done: done + skipped.length, total: files.length });
  };
  const items = files.map((file) => ({ file }));
  for await (const batch of extractorBatches(extractor, items, { ...opts, batchSize: groupImages })) {
    for (const f of batch.failures) skipped.push({ file: f.item.file, error: f.error });
    if (batch.n === 0) continue;
    const job = extractor.groupStatistics(batch.tensor, batch.n);
    used.push(...batch.items.map((i) => i.file));
    // Awaited in turn below; until then a failure must not count as unhandled.
    job.catch(() => undefined);
    inFlight.push(job);
    if (inFlight.length > extractor.lanes) await settle(inFlight.shift()!);
  }
  while (inFlight.length > 0) await settle(inFlight.shift()!);
  return { accumulator: acc, used, skipped };
}

async function streamIntoAccumulator(
  files: string[],
  extractor: EmbeddingExtractor,
  acc: GaussianAccumulator,
  sink: GroupSink,
  opts: InputOptions & { onProgress?: ProgressListener },
): Promise<AccumulateResult> {
  const used: string[] = [];
  const skipped: { file: string; error: string }[] = [];
  // One batch in flight per backbone session; results are taken in order.
  const inFlight: { emb: Promise<Float32Array>; n: number }[] = [];
  // Embeddings wait in the sink until a group of them is in: each pass over the co-moments then
  // serves more images.
  let done = 0;
  const flush = async () => {
    const n = sink.size();
    await sink.flush();
    done += n;
    opts.onProgress?.({ stage: 'extract', done: done + skipped.length, total: files.length });
  };
  const settle = async (job: { emb: Promise<Float32Array>; n: number }) => {
    const data = await job.emb;
    if (sink.size() > 0 && sink.size() + job.n > sink.capacity) await flush();
    sink.add(data, job.n);
    if (sink.size() >= sink.target) await flush();
  };
  const items = files.map((file) => ({ file }));
  for await (const batch of extractorBatches(extractor, items, opts)) {
    for (const f of batch.failures) skipped.push({ file: f.item.file, error: f.error });
    if (batch.n === 0) continue;
    const job = { emb: extractor.run(batch.tensor, batch.n), n: batch.n };
    used.push(...batch.items.map((i) => i.file));
    // Awaited in turn below; until then a failure must not count as unhandled.
    job.emb.catch(() => undefined);
    inFlight.push(job);
    if (inFlight.length > extractor.lanes) await settle(inFlight.shift()!);
  }
  while (inFlight.length > 0) await settle(inFlight.shift()!);
  if (sink.size() > 0) await flush();
  return { accumulator: acc, used, skipped };
}

export interface TrainOptions extends InputOptions, ThresholdOptions {
  category: string;
  /** How co-moments are accumulated. @defaultValue defaultComomentPath(positions, d, runtime.device) */
  comoments?: ComomentPath;
  /** Images per backbone run on the 'in-graph' path. @defaultValue IN_GRAPH_GROUP_IMAGES */
  groupImages?: number;
  files: string[];
  embedding?: EmbeddingRequest;
  /** Fraction of the images held out of fitting to set the thresholds (when no validation set is given). */
  holdout?: number;
  regularization?: number;
  /** Leave thresholds unset (rule 'unset'); the caller sets them, e.g. from an evaluation it runs anyway. */
  skipThresholds?: boolean;
  /** Return the fitted accumulator too (to store it for incremental retraining). @defaultValue false */
  keepAccumulator?: boolean;
}

export interface TrainedModel {
  manifest: Omit<ModelManifest, 'tensors'>;
  tensors: ModelTensors;
  /** Only with `keepAccumulator`. */
  accumulator?: GaussianAccumulator;
}

/** Decoded batches of `items` for the extractor's backbone, with the input options' defaults. */
function extractorBatches<T extends { file: string }>(extractor: EmbeddingExtractor, items: T[], opts: InputOptions): AsyncGenerator<ImageBatch<T>> {
  return imageBatches(items, {
    size: opts.size ?? DEFAULT_IMAGE_SIZE,
    crop: opts.crop,
    normalization: extractor.backbone.spec.normalization,
    batchSize: opts.batchSize ?? defaultBatchSize(extractor.grid.height * extractor.grid.width, extractor.d),
    pixelLimit: opts.pixelLimit,
    read: opts.read,
  });
}

export async function trainModel(opts: TrainOptions): Promise<TrainedModel> {
  const started = Date.now();
  const selection = resolveEmbedding(opts.backbone, opts.embedding ?? {});
  const side = opts.crop ?? opts.size ?? DEFAULT_IMAGE_SIZE;
  const { fit, heldOut } = opts.validation ? { fit: opts.files, heldOut: [] } : splitHoldout(opts.files, opts.holdout ?? DEFAULT_HOLDOUT);
  const extractor = await EmbeddingExtractor.create(opts.backbone, selection, side, opts.runtime);
  try {
    // One batch size for the fit and the threshold scoring alike.
    const batchSize = opts.batchSize ?? defaultBatchSize(extractor.grid.height * extractor.grid.width, extractor.d);
    return await fitAndSetThresholds({ ...opts, batchSize }, extractor, selection, fit, heldOut, started);
  } finally {
    await extractor.release();
  }
}

/** trainModel's work once its extractor is open; the threshold scoring reuses that extractor. */
async function fitAndSetThresholds(
  opts: TrainOptions,
  extractor: EmbeddingExtractor,
  selection: EmbeddingSelection,
  fit: string[],
  heldOut: string[],
  started: number,
): Promise<TrainedModel> {
  const size = opts.size ?? DEFAULT_IMAGE_SIZE;
  const crop = opts.crop ?? null;
  const extracted = await accumulateImages(fit, extractor, { ...opts, size, crop });
  const { used, skipped } = extracted;
  let accumulator: GaussianAccumulator | undefined = extracted.accumulator;
  const imageCount = accumulator.count;
  if (imageCount < 2) {
    const why = skipped
      .slice(0, 5)
      .map((s) => `\n  ${s.error}`)
      .join('');
    throw new Error(`training needs at least 2 usable images, got ${imageCount} of ${fit.length}${why}`);
  }
  opts.onProgress?.({ stage: 'finalize', done: 0, total: 1 });
  // Unless the accumulator is asked for, the factors are written over its co-moments (165 MB for
  // resnet18 d=100, 5 GB for resnet50 d=550): the peak is then the accumulator alone, not it and the factors.
  const gaussian = await finalizeInParallel(accumulator, {
    regularization: opts.regularization ?? COVARIANCE_REGULARIZATION,
    threads: runtimeThreads(opts.runtime ?? {}),
    inPlace: !opts.keepAccumulator,
  });
  const tensors: ModelTensors = { mean: gaussian.mean, invCholesky: gaussian.invCholesky };
  opts.onProgress?.({ stage: 'finalize', done: 1, total: 1 });
  if (!opts.keepAccumulator) {
    accumulator = undefined;
    (extracted as Partial<AccumulateResult>).accumulator = undefined;
  }

  const model: ManifestBaseInput = {
    category: opts.category,
    backbone: opts.backbone,
    selection,
    size,
    crop,
    grid: extractor.grid,
    regularization: opts.regularization ?? COVARIANCE_REGULARIZATION,
    imageCount,
    heldOutCount: heldOut.length,
    skipped,
  };
  const manifest = opts.skipThresholds
    ? modelManifestBase(model)
    : await manifestWithThresholds(model, tensors, opts, heldOut.length > 0 ? heldOut : used, extractor);
  manifest.training.seconds = (Date.now() - started) / 1000;
  return { manifest, tensors, accumulator };
}

/**
 * The embeddings of `files`. They depend on the backbone and the channel selection only, not on a
 * model's statistics, so the images that set a model's thresholds can be embedded while the model is
 * still being fitted (manifestWithThresholds takes them instead of the files).
 */
export async function embedImages(extractor: EmbeddingExtractor, files: string[], opts: InputOptions = {}): Promise<EmbeddedImages> {
  const embedded: EmbeddedImages = { batches: [], failures: [] };
  const inFlight: Promise<void>[] = [];
  for await (const batch of extractorBatches(
    extractor,
    files.map((file) => ({ file })),
    opts,
  )) {
    for (const f of batch.failures) embedded.failures.push({ file: f.item.file, error: f.error });
    if (batch.n === 0) continue;
    const entry: EmbeddedImages['batches'][number] = { data: new Float32Array(0), n: batch.n, files: batch.items.map((i) => i.file) };
    embedded.batches.push(entry);
    const embedding = extractor.run(batch.tensor, batch.n).then((data) => void (entry.data = data));
    embedding.catch(() => undefined);
    inFlight.push(embedding);
    if (inFlight.length >= extractor.lanes) await inFlight.shift();
  }
  await Promise.all(inFlight);
  return embedded;
}
