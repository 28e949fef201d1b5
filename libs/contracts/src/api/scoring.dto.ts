import { z } from 'zod';
import { RESERVED_STORE_PREFIXES, isUserStoreKey, checkS3Location } from '../input-locations';
import { categoryName, versionName } from '../names';
import { callbackUrl } from './completion-callback.dto';

/** POST /v1/scorings: score an archive or a prefix of images in the object store with a category's model. */
export const scoringRequest = z
  .object({
    category: categoryName,
    /** Default: the current version when the scoring is prepared. */
    version: versionName.optional(),
    /**
     * `s3://bucket/archive.(zip|tar|tar.gz|tgz)` or `s3://bucket/prefix/` (trailing slash), or the same
     * within the fleet's own store as `store:key` / `store:prefix/`.
     */
    input: z
      .string()
      .max(1024)
      .regex(/^(s3:\/\/.*|store:[^/].*)$/, 'must be s3://bucket/key of an archive, s3://bucket/prefix/, or store:key')
      .refine((s) => !s.split('/').includes('..'), 'must not contain ".." segments')
      .superRefine(checkS3Location)
      .refine(isUserStoreKey, `must not name the fleet's own prefixes (${RESERVED_STORE_PREFIXES.join(', ')})`),
    /** Images per chunk job. */
    chunkSize: z.number().int().min(1).max(1024).default(64),
    /** POSTed the scoring's completion event (scoring.succeeded or scoring.failed) when it ends; its host must be in PADIM_CALLBACK_HOSTS. */
    callbackUrl: callbackUrl.optional(),
  })
  .strict();
export type ScoringRequest = z.infer<typeof scoringRequest>;

/** Query of POST /v1/models/:category/score. */
export const onlineScoreQuery = z
  .object({
    version: versionName.optional(),
    inline: z
      .enum(['true', 'false', '1', '0'])
      .transform((v) => v === 'true' || v === '1')
      .optional(),
  })
  .strict();

/** One scored input, as written to results.csv / results.jsonl. */
export interface ScoreRow {
  /** The input's name: a path relative to the input root, or `<archive name>/<entry path>`. */
  file: string;
  /** Raw image score: the maximum of the anomaly map. */
  score: number | null;
  /** The score on the model's normalised scale (threshold at 0.5, clamped to [0, 1]). */
  normalizedScore: number | null;
  label: 'anomalous' | 'normal' | null;
  /** The model's image threshold. */
  threshold: number;
  /** Where the maximum is, in the side×side map. */
  maxX: number | null;
  maxY: number | null;
  /** Key of the overlay PNG relative to the output prefix, e.g. 'heatmaps/a__b-0123456789ab.png'. */
  heatmap: string | null;
  /** Key of the binary mask PNG relative to the output prefix. */
  mask: string | null;
  error: string | null;
}

/** An online result: `heatmap` and `mask` are URLs on the API, or null with `inline`, which returns the PNGs base64-encoded. */
export interface OnlineScoreResult extends ScoreRow {
  heatmapPng?: string;
  maskPng?: string;
}

export interface OnlineScoreResponse {
  category: string;
  version: string;
  results: OnlineScoreResult[];
}

export interface HistogramBin {
  from: number;
  to: number;
  count: number;
}

/** summary.json of a batch scoring (and of `padim score`). */
export interface ScoringSummary {
  images: number;
  scored: number;
  failed: number;
  anomalous: number;
  normal: number;
  threshold: number;
  /** 10 bins of normalizedScore over [0, 1]; the last bin includes 1. */
  histogram: HistogramBin[];
  /** Every anomalous row, highest score first. */
  anomalies: { file: string; score: number; normalizedScore: number }[];
  errors: { file: string; error: string }[];
  model: { category: string; version?: string };
}

export interface ScoringStatus {
  scoringId: string;
  category: string;
  version: string | null;
  state: 'preparing' | 'queued' | 'running' | 'completed' | 'failed';
  createdAt: string;
  images: number;
  imagesDone: number;
  chunks: { chunk: number; state: string; images: number; attemptsMade: number; error?: string }[];
  /** Keys of the result files (under scorings/<id>/) once completed. */
  outputs?: { resultsCsv: string; resultsJsonl: string; summary: string; heatmaps: string; masks: string };
  summary?: { images: number; scored: number; failed: number; anomalous: number };
  error?: string;
}
