import { z } from 'zod';

/** 'preparing': an uploaded archive is being checked and unpacked; the run's shards do not exist yet. */
export const runState = z.enum(['preparing', 'queued', 'running', 'completed', 'failed', 'cancelled']);
export type RunState = z.infer<typeof runState>;
/** A BullMQ job's state as the API reports it ('unknown' once the job is gone). */
export const jobState = z.enum(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized', 'waiting-children', 'unknown']);
export type JobState = z.infer<typeof jobState>;

export const shardStatus = z.object({
  shard: z.number().int(),
  state: jobState,
  imagesDone: z.number().int(),
  imagesTotal: z.number().int(),
  attemptsMade: z.number().int(),
  error: z.string().optional(),
});
export type ShardStatus = z.infer<typeof shardStatus>;

export const fitGaussianResult = z.object({
  category: z.string(),
  version: z.string(),
  imageCount: z.number().int(),
  /** Whether the run made its version current (not when promote was false or a newer version was current). */
  current: z.boolean(),
  metrics: z.record(z.string(), z.number().nullable()).optional(),
  seconds: z.number(),
  /** Where the reducer's time went: merge and finalise, thresholds, waiting for the uploads, manifest and clean-up. */
  stages: z.record(z.string(), z.number()).optional(),
});
export type FitGaussianResult = z.infer<typeof fitGaussianResult>;

/** GET /v1/trainings/:id (and DELETE, which answers the run as cancelled). */
export const trainingStatus = z.object({
  runId: z.string(),
  category: z.string(),
  version: z.string(),
  state: runState,
  createdAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  imageCount: z.number().int(),
  heldOutCount: z.number().int(),
  shards: z.array(shardStatus),
  reduce: z.object({
    state: jobState,
    stage: z.string().optional(),
    done: z.number().optional(),
    total: z.number().optional(),
    attemptsMade: z.number().int(),
    error: z.string().optional(),
  }),
  /** Seconds: queued (submission to first shard start), extract (first start to last shard end), reduce, total. */
  timings: z.object({
    queuedSeconds: z.number().optional(),
    extractSeconds: z.number().optional(),
    reduceSeconds: z.number().optional(),
    totalSeconds: z.number().optional(),
  }),
  result: fitGaussianResult.optional(),
  error: z.string().optional(),
});
export type TrainingStatus = z.infer<typeof trainingStatus>;

/** One entry of GET /v1/trainings: a run without per-shard detail. */
export const trainingRunSummary = z.object({
  runId: z.string(),
  category: z.string(),
  version: z.string(),
  /** 'queued' also covers runs whose shards are under way: the parent job waits for its children. */
  state: runState,
  createdAt: z.string(),
  error: z.string().optional(),
});
export type TrainingRunSummary = z.infer<typeof trainingRunSummary>;
export const trainingRunList = z.array(trainingRunSummary);

/** 202 of POST /v1/trainings: the planned run. */
export const submittedTraining = z.object({
  runId: z.string(),
  category: z.string(),
  version: z.string(),
  shards: z.number().int(),
  images: z.number().int(),
  heldOut: z.number().int(),
  /** The run's status route. */
  status: z.string(),
  /** Set when the threshold rule's target is finer than the held-out images resolve; the run goes ahead. */
  warnings: z.array(z.string()).optional(),
});
export type SubmittedTraining = z.infer<typeof submittedTraining>;

/** 202 of POST /v1/trainings/batch. */
export const submittedTrainingBatch = z.object({ runs: z.array(submittedTraining) });
export type SubmittedTrainingBatch = z.infer<typeof submittedTrainingBatch>;

/** 202 of POST /v1/trainings/upload: the run exists, in state 'preparing', until its archive is unpacked. */
export const submittedTrainingUpload = z.object({
  runId: z.string(),
  category: z.string(),
  version: z.string(),
  state: z.literal('preparing'),
  status: z.string(),
});
export type SubmittedTrainingUpload = z.infer<typeof submittedTrainingUpload>;

export interface ExtractFeaturesResult {
  partialKey: string;
  imageCount: number;
  skipped: { file: string; error: string }[];
  seconds: number;
  /** Seconds spent writing the partial to the store. */
  uploadSeconds?: number;
  /** Set when the run's only shard also fitted the model (see FittedShard). */
  fitted?: FittedShard;
}

/** A stored file of a fitted model, with its length and SHA-256 for the manifest. */
export interface FittedArtifact {
  key: string;
  bytes: number;
  sha256: string;
}

/**
 * What the only shard of a run (no base version, no validation set) hands the reducer when it fitted
 * the model itself: the finalised tensors and its statistics under the run's prefix, and the
 * thresholds. The reducer then only copies them into the version and writes the manifest.
 */
export interface FittedShard {
  imageCount: number;
  /** The model's thresholds (padim-core ModelThresholds), validated with the manifest that holds them. */
  thresholds: Record<string, unknown>;
  accumulator: FittedArtifact;
  mean: FittedArtifact;
  invCholesky: FittedArtifact;
  /** Seconds spent finalising, setting the thresholds, and waiting for the uploads after them. */
  stages: { finalizeSeconds: number; thresholdsSeconds: number; uploadWaitSeconds: number };
}

export interface ExtractProgress {
  imagesDone: number;
  imagesTotal: number;
}

export interface ReduceProgress {
  stage: 'merge' | 'finalize' | 'thresholds' | 'publish';
  done: number;
  total: number;
}
