import { Job, UnrecoverableError } from 'bullmq';
import { ArchiveRejectedError } from '@padim-fleet/archives';
import { ScoringPlan, prepareScoringJob } from '@padim-fleet/contracts';
import { archiveLimitsOf, unpackArchive } from '@padim-fleet/compute';
import { TooManyInputsError, listScoringInputs, resolveModelVersion, splitContiguous } from '@padim-fleet/fleet';
import { BlobStore, ModelNotFoundError, scoringInputPrefix, scoringPlanKey } from '@padim-fleet/storage';
import { JobContext, bindJobFields, parseJobData } from './job-context';
import { openInput } from './scoring-input';

/**
 * Checks the model and the input, unpacks an archive into the scoring's own prefix (after inspecting
 * it whole: hostile archives are rejected before anything is written), writes the plan of chunks and
 * queues the flow. Safe to retry: keys are fixed and the flow's job ids too.
 */
export async function prepareScoringHandler(job: Job, ctx: JobContext): Promise<{ version: string; images: number; chunks: number }> {
  const data = parseJobData(prepareScoringJob, job);
  let version: string;
  try {
    version = await resolveModelVersion(ctx.registry, data.category, data.version);
    bindJobFields(ctx.log, { version });
    // Loads and checks every tensor's SHA-256 now, so a corrupt model fails the scoring before any chunk runs.
    (await ctx.scorers.acquire(data.category, version)).done();
  } catch (error) {
    if (error instanceof ModelNotFoundError || (error as Error).name === 'ModelIntegrityError') throw new UnrecoverableError((error as Error).message);
    throw error;
  }
  const input = openInput(ctx, data.input);
  let items: { file: string; key: string }[] = [];
  let source = input.source;
  try {
    if (input.key === '' || input.key.endsWith('/')) {
      try {
        items = await listScoringInputs(input.store, input.key, data.input, ctx.config.SCORING_MAX_INPUTS);
      } catch (error) {
        if (error instanceof TooManyInputsError) throw new UnrecoverableError(error.message);
        throw error;
      }
    } else {
      items = await unpackScoringArchive(ctx, input.store, input.key, data.scoringId);
      source = 'store';
    }
  } finally {
    await input.close();
  }
  if (items.length === 0) throw new UnrecoverableError(`input ${data.input}: no files to score`);
  const plan: ScoringPlan = {
    scoringId: data.scoringId,
    category: data.category,
    version,
    input: data.input,
    source,
    chunks: splitContiguous(items, Math.ceil(items.length / data.chunkSize)),
    ...(data.callbackUrl !== undefined ? { callbackUrl: data.callbackUrl } : {}),
  };
  await ctx.store.put(scoringPlanKey(data.scoringId), JSON.stringify(plan));
  await ctx.scoringRuns.addFlow(plan);
  ctx.log.info({ images: items.length, chunkCount: plan.chunks.length }, `${items.length} images to score in ${plan.chunks.length} chunks, queued`);
  return { version, images: items.length, chunks: plan.chunks.length };
}

async function unpackScoringArchive(ctx: JobContext, store: BlobStore, key: string, scoringId: string): Promise<{ file: string; key: string }[]> {
  try {
    return await unpackArchive({
      source: store,
      key,
      target: ctx.store,
      prefix: scoringInputPrefix(scoringId),
      limits: archiveLimitsOf(ctx.config),
      scratchDir: ctx.scratchDir,
    });
  } catch (error) {
    if (error instanceof ArchiveRejectedError) throw new UnrecoverableError(error.message);
    throw error;
  }
}
