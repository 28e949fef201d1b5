import { UnrecoverableError } from 'bullmq';
import { ContractError, TrainingPlan } from '@padim-fleet/contracts';
import { readPlan } from '@padim-fleet/fleet';
import type { EmbeddingExtractor, ManifestBaseInput } from '@padim-fleet/inference';
import { COVARIANCE_REGULARIZATION, patchGrid } from '@padim-fleet/padim-core';
import { BlobNotFoundError } from '@padim-fleet/storage';
import { JobContext } from './job-context';

/** A run's plan, as its jobs read it; a plan missing or unreadable fails the job without retries. */
export async function loadPlan(ctx: JobContext, runId: string): Promise<TrainingPlan> {
  try {
    return await readPlan(ctx.store, runId);
  } catch (error) {
    if (error instanceof BlobNotFoundError) throw new UnrecoverableError(`run ${runId}: its plan is missing from the store (${error.message})`);
    if (error instanceof ContractError) throw new UnrecoverableError(error.message);
    throw error;
  }
}

/**
 * A run of one shard, with no base version to merge and no validation set to evaluate, is fitted by
 * its extract job: the statistics are already in that worker's memory, so writing them to the store
 * as a partial and reading them back in the reducer would only add time (a third of a screw run's).
 */
export function fitsInExtractJob(plan: TrainingPlan, shardCount: number): boolean {
  return shardCount === 1 && !plan.request.baseVersion && !plan.request.validation;
}

/** The normal images that set a run's thresholds: its held-out images, else the training images that were read. */
export function thresholdImages(plan: TrainingPlan, skipped: { file: string }[]): string[] {
  if (plan.heldOut.length > 0) return plan.heldOut;
  const unread = new Set(skipped.map((s) => s.file));
  return plan.shards.flat().filter((f) => !unread.has(f));
}

/** The patch grid of a run's model. */
export function gridOf(plan: TrainingPlan, backbone: EmbeddingExtractor['backbone']): { height: number; width: number } {
  return patchGrid(backbone.spec, plan.request.crop ?? plan.request.size);
}

/** What the manifest of a run's model records of how it was made (see manifestWithThresholds). */
export function fitInputOf(
  plan: TrainingPlan,
  model: Pick<EmbeddingExtractor, 'backbone' | 'selection'>,
  imageCount: number,
  skipped: { file: string; error: string }[],
): ManifestBaseInput {
  return {
    category: plan.request.category,
    backbone: model.backbone,
    selection: model.selection,
    size: plan.request.size,
    crop: plan.request.crop ?? null,
    grid: gridOf(plan, model.backbone),
    regularization: COVARIANCE_REGULARIZATION,
    imageCount,
    heldOutCount: plan.heldOut.length,
    skipped,
  };
}
