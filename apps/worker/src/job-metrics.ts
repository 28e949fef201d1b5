import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { JobName } from '@padim-fleet/contracts';
import { RunOutcome, ScoringKind, WorkerMetrics, claimRunOutcome } from '@padim-fleet/fleet';
import { RunStoppedError } from './jobs/job-context';

/** How a job attempt ended: completed with its result, or failed (`final`: no retry follows). */
export type JobEnd = { completed: true; result: unknown } | { completed: false; final: boolean; error: Error | null };

/**
 * What a job's end says of the training run or scoring it belongs to. `id` is set where several jobs
 * may report one run's end (the shards of a failed or cancelled run): only the first report counts.
 */
export type RunEnd =
  { counter: 'training'; id: string; outcome: RunOutcome } | { counter: 'scoring'; kind: ScoringKind; id: string | null; outcome: RunOutcome };

const TRAINING_JOBS: string[] = [JobName.PrepareTraining, JobName.ExtractFeatures, JobName.FitGaussian];
const BATCH_SCORING_JOBS: string[] = [JobName.PrepareScoring, JobName.ScoreChunk, JobName.AssembleScoring];

/**
 * A run ends with its last job (FitGaussian completed: succeeded; AssembleScoring completed: a batch
 * scoring succeeded) or with the first of its jobs to fail for good (cancelled when a cancel stopped
 * it). An online request ends with its ScoreImages job; one the API no longer waited for returns null.
 */
export function runEndOf(job: Pick<Job, 'name' | 'data'>, end: JobEnd): RunEnd | null {
  const data = job.data as { runId?: unknown; scoringId?: unknown };
  if (job.name === JobName.ScoreImages) {
    if (end.completed) return { counter: 'scoring', kind: 'online', id: null, outcome: end.result === null ? 'abandoned' : 'succeeded' };
    return end.final ? { counter: 'scoring', kind: 'online', id: null, outcome: 'failed' } : null;
  }
  if (TRAINING_JOBS.includes(job.name) && typeof data.runId === 'string') {
    if (end.completed) return job.name === JobName.FitGaussian ? { counter: 'training', id: data.runId, outcome: 'succeeded' } : null;
    if (!end.final) return null;
    const cancelled = end.error instanceof RunStoppedError && end.error.reason === 'cancelled';
    return { counter: 'training', id: data.runId, outcome: cancelled ? 'cancelled' : 'failed' };
  }
  if (BATCH_SCORING_JOBS.includes(job.name) && typeof data.scoringId === 'string') {
    if (end.completed) return job.name === JobName.AssembleScoring ? { counter: 'scoring', kind: 'batch', id: data.scoringId, outcome: 'succeeded' } : null;
    return end.final ? { counter: 'scoring', kind: 'batch', id: data.scoringId, outcome: 'failed' } : null;
  }
  return null;
}

/** Counts the end of a job's run or scoring, once in the fleet (see claimRunOutcome). */
export async function countRunEnd(metrics: WorkerMetrics, redis: Redis, queuePrefix: string, job: Pick<Job, 'name' | 'data'>, end: JobEnd): Promise<void> {
  const run = runEndOf(job, end);
  if (!run) return;
  if (run.id !== null && !(await claimRunOutcome(redis, queuePrefix, run.id))) return;
  if (run.counter === 'training') metrics.trainingRuns.inc({ outcome: run.outcome });
  else metrics.scorings.inc({ kind: run.kind, outcome: run.outcome });
}
