import type { Job } from 'bullmq';
import {
  DeliverCallbackJob,
  FitGaussianResult,
  JobName,
  QueuedCompletionEvent,
  ScoringStatus,
  assembleScoringJob,
  callbackDeliveryId,
  configSecrets,
  extractFeaturesJob,
  fitGaussianJob,
  prepareScoringJob,
  prepareTrainingJob,
  redactCredentials,
  scoreChunkJob,
  versionFor,
} from '@padim-fleet/contracts';
import { JobContext, runStopReason } from './job-context';

/** Longest error message an event carries. */
const MAX_EVENT_ERROR = 2000;

/**
 * The callback of a job whose success ends its run or scoring (FitGaussian publishes the model,
 * AssembleScoring writes the results), or null: another job, or no callbackUrl.
 */
export function succeededCallback(job: Job, result: unknown): DeliverCallbackJob | null {
  const finishedAt = new Date().toISOString();
  if (job.name === JobName.FitGaussian) {
    const data = fitGaussianJob.safeParse(job.data);
    if (!data.success || data.data.callbackUrl === undefined) return null;
    const { runId, category, version } = data.data;
    const fitted = result as FitGaussianResult;
    return {
      url: data.data.callbackUrl,
      event: {
        event: 'training.succeeded',
        deliveryId: callbackDeliveryId('training', runId),
        id: runId,
        category,
        version,
        state: 'completed',
        imageCount: fitted.imageCount,
        current: fitted.current,
        ...(fitted.metrics ? { metrics: fitted.metrics } : {}),
        status: `/v1/trainings/${runId}`,
        finishedAt,
      },
    };
  }
  if (job.name === JobName.AssembleScoring) {
    const data = assembleScoringJob.safeParse(job.data);
    if (!data.success || data.data.callbackUrl === undefined) return null;
    const { scoringId, category, version } = data.data;
    const summary = result as NonNullable<ScoringStatus['summary']>;
    return {
      url: data.data.callbackUrl,
      event: {
        event: 'scoring.succeeded',
        deliveryId: callbackDeliveryId('scoring', scoringId),
        id: scoringId,
        category,
        version,
        state: 'completed',
        summary: { images: summary.images, scored: summary.scored, failed: summary.failed, anomalous: summary.anomalous },
        status: `/v1/scorings/${scoringId}`,
        finishedAt,
      },
    };
  }
  return null;
}

/**
 * The callback of a job whose last failure fails its run or scoring, or null (another job, or no
 * callbackUrl). A shard or chunk carries no callbackUrl: it is read from its flow's parent job.
 */
export async function failedCallback(ctx: JobContext, job: Job, error: Error): Promise<DeliverCallbackJob | null> {
  const message = redactCredentials(error.message, configSecrets(ctx.config)).slice(0, MAX_EVENT_ERROR);
  switch (job.name) {
    case JobName.FitGaussian: {
      const data = fitGaussianJob.safeParse(job.data);
      if (!data.success) return null;
      return trainingFailed(ctx, data.data.runId, data.data, message);
    }
    case JobName.ExtractFeatures: {
      const data = extractFeaturesJob.safeParse(job.data);
      const parent = data.success ? await ctx.trainingRuns.flowParent(data.data.runId) : null;
      return data.success && parent ? trainingFailed(ctx, data.data.runId, parent, `shard ${data.data.shard}: ${message}`) : null;
    }
    case JobName.PrepareTraining: {
      const data = prepareTrainingJob.safeParse(job.data);
      if (!data.success) return null;
      const { runId, createdAt, request, archive } = data.data;
      const version = versionFor(runId, new Date(createdAt));
      return trainingFailed(ctx, runId, { category: request.category, version, callbackUrl: request.callbackUrl }, `archive ${archive.name}: ${message}`);
    }
    case JobName.PrepareScoring: {
      const data = prepareScoringJob.safeParse(job.data);
      if (!data.success) return null;
      return scoringFailed(data.data.scoringId, { ...data.data, version: data.data.version ?? undefined }, message);
    }
    case JobName.ScoreChunk: {
      const data = scoreChunkJob.safeParse(job.data);
      const parent = data.success ? await ctx.scoringRuns.flowParent(data.data.scoringId) : null;
      return data.success && parent ? scoringFailed(data.data.scoringId, parent, `chunk ${data.data.chunk}: ${message}`) : null;
    }
    case JobName.AssembleScoring: {
      const data = assembleScoringJob.safeParse(job.data);
      return data.success ? scoringFailed(data.data.scoringId, data.data, message) : null;
    }
    default:
      return null;
  }
}

interface Destination {
  category: string;
  version?: string;
  callbackUrl?: string;
}

/** A run that was cancelled reports 'cancelled', whichever of its jobs stopped last. */
async function trainingFailed(ctx: JobContext, runId: string, run: Destination, message: string): Promise<DeliverCallbackJob | null> {
  if (run.callbackUrl === undefined) return null;
  const cancelled = (await runStopReason(ctx, runId)) === 'cancelled';
  return {
    url: run.callbackUrl,
    event: failedEvent(
      'training.failed',
      callbackDeliveryId('training', runId),
      runId,
      run,
      cancelled ? 'cancelled' : 'failed',
      cancelled ? 'cancelled' : message,
    ),
  };
}

function scoringFailed(scoringId: string, scoring: Destination, message: string): DeliverCallbackJob | null {
  if (scoring.callbackUrl === undefined) return null;
  return { url: scoring.callbackUrl, event: failedEvent('scoring.failed', callbackDeliveryId('scoring', scoringId), scoringId, scoring, 'failed', message) };
}

function failedEvent(
  event: 'training.failed' | 'scoring.failed',
  deliveryId: string,
  id: string,
  run: Destination,
  state: 'failed' | 'cancelled',
  error: string,
): QueuedCompletionEvent {
  return {
    event,
    deliveryId,
    id,
    category: run.category,
    ...(run.version !== undefined ? { version: run.version } : {}),
    state,
    error,
    status: event === 'training.failed' ? `/v1/trainings/${id}` : `/v1/scorings/${id}`,
    finishedAt: new Date().toISOString(),
  };
}
