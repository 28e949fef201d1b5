/** 'preparing': an uploaded archive is being checked and unpacked; the run's shards do not exist yet. */
export type RunState = 'preparing' | 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
export type JobState = 'waiting' | 'active' | 'completed' | 'failed' | 'delayed' | 'waiting-children' | 'unknown';

export interface ShardStatus {
  shard: number;
  state: JobState;
  imagesDone: number;
  imagesTotal: number;
  attemptsMade: number;
  error?: string;
}

export interface TrainingStatus {
  runId: string;
  category: string;
  version: string;
  state: RunState;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  imageCount: number;
  heldOutCount: number;
  shards: ShardStatus[];
  reduce: { state: JobState; stage?: string; done?: number; total?: number; attemptsMade: number; error?: string };
  /** Seconds: queued (submission to first shard start), extract (first start to last shard end), reduce, total. */
  timings: { queuedSeconds?: number; extractSeconds?: number; reduceSeconds?: number; totalSeconds?: number };
  result?: FitGaussianResult;
  error?: string;
}

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

export interface FitGaussianResult {
  category: string;
  version: string;
  imageCount: number;
  /** Whether the run made its version current (not when promote was false or a newer version was current). */
  current: boolean;
  metrics?: Record<string, number | null>;
  seconds: number;
  /** Where the reducer's time went: merge and finalise, thresholds, waiting for the uploads, manifest and clean-up. */
  stages?: Record<string, number>;
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
