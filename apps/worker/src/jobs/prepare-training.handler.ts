import { Job, UnrecoverableError } from 'bullmq';
import { ArchiveRejectedError } from '@padim-fleet/archives';
import { TrainingPlan, prepareTrainingJob, s3Connection, trainingRequest, versionFor } from '@padim-fleet/contracts';
import { archiveLimitsOf, unpackArchive } from '@padim-fleet/compute';
import { DatasetError, planTraining } from '@padim-fleet/fleet';
import { runImagesPrefix } from '@padim-fleet/storage';
import { JobContext, bindJobFields, parseJobData, throwIfStopped } from './job-context';

/**
 * Unpacks a run's uploaded archive into the run's own prefix (inspected whole first: a hostile archive
 * fails the run with the reason before anything is written), then plans the run and queues its flow.
 * Safe to retry: the keys are fixed, and a flow already queued is not queued again. The archive itself
 * is removed once the flow is queued; the images go with the run's other objects when it ends.
 */
export async function prepareTrainingHandler(job: Job, ctx: JobContext): Promise<{ images: number; shards: number }> {
  const data = parseJobData(prepareTrainingJob, job);
  const { runId } = data;
  bindJobFields(ctx.log, { category: data.request.category, version: versionFor(runId, new Date(data.createdAt)) });
  if (await ctx.trainingRuns.submitted(runId)) {
    ctx.log.debug('the run was already queued by an earlier attempt');
    await ctx.store.delete(data.archive.key);
    return { images: 0, shards: 0 };
  }
  await throwIfStopped(ctx, runId);
  const prefix = runImagesPrefix(runId);
  try {
    await unpackArchive({
      source: ctx.store,
      key: data.archive.key,
      name: data.archive.name,
      target: ctx.store,
      prefix,
      limits: archiveLimitsOf(ctx.config),
      scratchDir: ctx.scratchDir,
    });
  } catch (error) {
    if (error instanceof ArchiveRejectedError) throw new UnrecoverableError(error.reason);
    throw error;
  }
  await throwIfStopped(ctx, runId);
  let plan: TrainingPlan;
  try {
    plan = await planTraining(trainingRequest.parse({ ...data.request, dataset: `store:${prefix}` }), {
      runId,
      createdAt: new Date(data.createdAt),
      datasetRoots: ctx.config.PADIM_DATASET_ROOTS,
      s3: s3Connection(ctx.config),
      store: ctx.store,
      extractWorkers: await ctx.trainingRuns.extractWorkerCount(),
    });
  } catch (error) {
    if (error instanceof DatasetError) throw new UnrecoverableError(error.message.replace(`store:${prefix}`, 'the archive'));
    throw error;
  }
  await ctx.trainingRuns.submit(plan);
  await ctx.store.delete(data.archive.key);
  const images = plan.shards.reduce((a, s) => a + s.length, 0) + plan.heldOut.length;
  ctx.log.info(
    { images, shardCount: plan.shards.length },
    `archive ${data.archive.name} unpacked: ${images} images, run queued in ${plan.shards.length} shards`,
  );
  return { images, shards: plan.shards.length };
}
