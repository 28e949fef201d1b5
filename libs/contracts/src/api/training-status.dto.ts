export type RunState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
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
}

export interface FitGaussianResult {
  category: string;
  version: string;
  imageCount: number;
  current: boolean;
  metrics?: Record<string, number>;
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
