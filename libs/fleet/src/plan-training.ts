import { DatasetSource, S3Connection, TrainingPlan, TrainingRequest, parseDatasetLocation, versionFor } from '@padim-fleet/contracts';
import { fprResolutionWarning, splitHoldout } from '@padim-fleet/padim-core';
import { type BlobStore, StoreUnavailableError } from '@padim-fleet/storage';
import { DatasetError, checkServerFolder, checkValidationSet, openImageSource } from './image-source';

/** With no extract worker online to count, one shard per this many training images (at most MAX_DEFAULT_SHARDS). */
export const DEFAULT_IMAGES_PER_SHARD = 64;
export const MAX_DEFAULT_SHARDS = 16;
/** Every shard costs a partial as large as the whole model's statistics: keep at least this many images in one. */
export const MIN_IMAGES_PER_DEFAULT_SHARD = 16;

/**
 * Shards when the request does not say: one per extract worker online, so each worker gets one and
 * no more partials are written than can be worked on at once; without workers to count, by size.
 */
export function defaultShardCount(images: number, extractWorkers: number): number {
  if (extractWorkers > 0) return Math.max(1, Math.min(extractWorkers, Math.ceil(images / MIN_IMAGES_PER_DEFAULT_SHARD)));
  return Math.min(MAX_DEFAULT_SHARDS, Math.max(1, Math.ceil(images / DEFAULT_IMAGES_PER_SHARD)));
}

export interface PlanContext {
  runId: string;
  createdAt: Date;
  datasetRoots: string[];
  s3: S3Connection;
  /** Most images the dataset may hold (DATASET_MAX_IMAGES); no cap when unset. */
  maxImages?: number;
  /** Extract workers online (for the default shard count); 0 when unknown. */
  extractWorkers?: number;
  /** Where the images are when not at `request.dataset` (an uploaded archive unpacked into `store`). */
  source?: DatasetSource;
  store?: BlobStore;
  /** The store's folder when it is local: server folders may not reach its own prefixes. */
  storeFolder?: string;
}

/**
 * Resolves a request into the run's plan: lists the dataset, holds out the threshold images (the same
 * rule as `padim train`), and cuts the rest into contiguous shards. Bad input fails here, before
 * anything is queued or stored.
 */
export async function planTraining(request: TrainingRequest, ctx: PlanContext): Promise<TrainingPlan> {
  let source: DatasetSource = ctx.source ?? parseDatasetLocation(request.dataset);
  if (source.kind === 'folder') source = { kind: 'folder', root: await checkServerFolder(source.root, ctx.datasetRoots, 'dataset', ctx.storeFolder) };
  // The run reads the paths resolved here, not the request's spelling.
  const validation = request.validation ? await checkValidationSet(request.validation, ctx.datasetRoots, ctx.storeFolder) : undefined;
  const images = openImageSource(source, ctx.s3, ctx.store);
  let files: string[];
  try {
    files = await images.list(ctx.maxImages);
  } catch (error) {
    // An unreachable store is no fault of the request: a 503 to retry, not a 400.
    if (error instanceof DatasetError || error instanceof StoreUnavailableError) throw error;
    throw new DatasetError(`dataset: cannot list ${request.dataset}: ${(error as Error).message}`);
  } finally {
    await images.close();
  }
  if (files.length === 0) throw new DatasetError(`dataset: no images under ${request.dataset}`);
  const { fit, heldOut } = request.validation ? { fit: files, heldOut: [] } : splitHoldout(files, request.holdout);
  if (fit.length < 2) throw new DatasetError(`dataset: training needs at least 2 images, ${request.dataset} has ${fit.length} after the hold-out`);
  const shardCount = request.shards ?? defaultShardCount(fit.length, ctx.extractWorkers ?? 0);
  if (shardCount > fit.length) throw new DatasetError(`shards: ${shardCount} shards for ${fit.length} training images; use at most one shard per image`);
  return {
    runId: ctx.runId,
    version: versionFor(ctx.runId, ctx.createdAt),
    createdAt: ctx.createdAt.toISOString(),
    request: validation ? { ...request, validation } : request,
    source,
    shards: splitContiguous(fit, shardCount),
    heldOut,
  };
}

/** n near-equal contiguous slices (sizes differ by at most one), in order. */
export function splitContiguous<T>(items: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < n; i++) out.push(items.slice(Math.floor((i * items.length) / n), Math.floor(((i + 1) * items.length) / n)));
  return out;
}

/**
 * What the caller should know before the run starts: an fpr threshold rule whose target is finer than
 * the images that will set the threshold resolve (its held-out images, else its training images).
 */
export function planWarnings(plan: TrainingPlan): string[] {
  const rule = plan.request.thresholdRule;
  if (rule?.kind !== 'fpr') return [];
  const normals = plan.heldOut.length > 0 ? plan.heldOut.length : plan.shards.reduce((a, s) => a + s.length, 0);
  const warning = fprResolutionWarning(rule.fpr, normals);
  return warning ? [`thresholdRule: ${warning}`] : [];
}
