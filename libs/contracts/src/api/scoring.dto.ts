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
export const scoreRow = z.object({
  /** The input's name: a path relative to the input root, or `<archive name>/<entry path>`. */
  file: z.string(),
  /** Raw image score: the maximum of the anomaly map. */
  score: z.number().nullable(),
  /** The score on the model's normalised scale (threshold at 0.5, clamped to [0, 1]). */
  normalizedScore: z.number().nullable(),
  label: z.enum(['anomalous', 'normal']).nullable(),
  /** The model's image threshold. */
  threshold: z.number(),
  /** Where the maximum is, in the side×side map. */
  maxX: z.number().int().nullable(),
  maxY: z.number().int().nullable(),
  /** Key of the overlay PNG relative to the output prefix, e.g. 'heatmaps/a__b-0123456789ab.png'. */
  heatmap: z.string().nullable(),
  /** Key of the binary mask PNG relative to the output prefix. */
  mask: z.string().nullable(),
  error: z.string().nullable(),
});
export type ScoreRow = z.infer<typeof scoreRow>;

/** An online result: `heatmap` and `mask` are URLs on the API, or null with `inline`, which returns the PNGs base64-encoded. */
export const onlineScoreResult = scoreRow.extend({ heatmapPng: z.string().optional(), maskPng: z.string().optional() });
export type OnlineScoreResult = z.infer<typeof onlineScoreResult>;

/** 200 of POST /v1/models/:category/score. */
export const onlineScoreResponse = z.object({ category: z.string(), version: z.string(), results: z.array(onlineScoreResult) });
export type OnlineScoreResponse = z.infer<typeof onlineScoreResponse>;

export const histogramBin = z.object({ from: z.number(), to: z.number(), count: z.number().int() });
export type HistogramBin = z.infer<typeof histogramBin>;

/** summary.json of a batch scoring (and of `padim score`). */
export const scoringSummary = z.object({
  images: z.number().int(),
  scored: z.number().int(),
  failed: z.number().int(),
  anomalous: z.number().int(),
  normal: z.number().int(),
  threshold: z.number(),
  /** 10 bins of normalizedScore over [0, 1]; the last bin includes 1. */
  histogram: z.array(histogramBin),
  /** Every anomalous row, highest score first. */
  anomalies: z.array(z.object({ file: z.string(), score: z.number(), normalizedScore: z.number() })),
  errors: z.array(z.object({ file: z.string(), error: z.string() })),
  model: z.object({ category: z.string(), version: z.string().optional() }),
});
export type ScoringSummary = z.infer<typeof scoringSummary>;

/** GET /v1/scorings/:id, and each entry of GET /v1/scorings. */
export const scoringStatus = z.object({
  scoringId: z.string(),
  category: z.string(),
  version: z.string().nullable(),
  state: z.enum(['preparing', 'queued', 'running', 'completed', 'failed']),
  createdAt: z.string(),
  images: z.number().int(),
  imagesDone: z.number().int(),
  chunks: z.array(
    z.object({ chunk: z.number().int(), state: z.string(), images: z.number().int(), attemptsMade: z.number().int(), error: z.string().optional() }),
  ),
  /** Keys of the result files (under scorings/<id>/) once completed. */
  outputs: z.object({ resultsCsv: z.string(), resultsJsonl: z.string(), summary: z.string(), heatmaps: z.string(), masks: z.string() }).optional(),
  summary: z.object({ images: z.number().int(), scored: z.number().int(), failed: z.number().int(), anomalous: z.number().int() }).optional(),
  error: z.string().optional(),
});
export type ScoringStatus = z.infer<typeof scoringStatus>;
export const scoringStatusList = z.array(scoringStatus);

/** 202 of POST /v1/scorings and /v1/scorings/upload. */
export const submittedScoring = z.object({ scoringId: z.string(), status: z.string() });
export type SubmittedScoring = z.infer<typeof submittedScoring>;
