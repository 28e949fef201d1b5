import { z } from 'zod';
import { RESERVED_STORE_PREFIXES, isUserStoreKey, checkS3Location } from '../input-locations';
import { categoryName, versionName } from '../names';
import { callbackUrl } from './completion-callback.dto';

/** Backbones the fleet can build, with their feature count F (the upper bound of d). */
export const BACKBONE_FEATURES = { resnet18: 448, resnet50: 1792 } as const;
export type BackboneName = keyof typeof BACKBONE_FEATURES;
export const BACKBONE_NAMES = Object.keys(BACKBONE_FEATURES) as BackboneName[];

/**
 * `s3://bucket/prefix/`, a prefix of the fleet's own store as `store:prefix/`, or an absolute
 * server-side folder (which must lie under PADIM_DATASET_ROOTS once resolved: a folder may be spelled
 * with ".." as long as it stays under a root).
 */
export const datasetLocation = z
  .string()
  .min(1)
  .max(1024)
  .refine((s) => s.startsWith('s3://') || s.startsWith('store:') || s.startsWith('/'), 'must be s3://bucket/prefix, store:prefix or an absolute server folder')
  .refine((s) => s.startsWith('/') || !s.split('/').includes('..'), 'must not contain ".." segments')
  .superRefine(checkS3Location);

/**
 * How the image threshold is set from the held-out normal images: `{kind: 'sigma', k}` is mean + k·std
 * of their scores (the default, k = 3); `{fpr}` (or `{kind: 'fpr', fpr}`) is the score that leaves that
 * fraction of them at or above it. Mirrors padim-core's ThresholdRule.
 */
export const thresholdRule = z.preprocess(
  (v) => (typeof v === 'object' && v !== null && !('kind' in v) && 'fpr' in v ? { kind: 'fpr', ...v } : v),
  z.discriminatedUnion(
    'kind',
    [
      z.object({ kind: z.literal('sigma'), k: z.number().gt(0).max(100) }).strict(),
      z.object({ kind: z.literal('fpr'), fpr: z.number().gt(0, 'must be above 0').lt(1, 'must be below 1') }).strict(),
    ],
    { error: 'must be {kind: "sigma", k} or {fpr}' },
  ),
);
export type ThresholdRuleRequest = z.infer<typeof thresholdRule>;

const trainingRequestFields = z
  .object({
    category: categoryName,
    /** Normal (defect-free) training images: every image under this location, recursively. */
    dataset: datasetLocation,
    /** Optional labelled set in MVTec's layout (`<defect>/*.png`, masks in `../ground_truth`): thresholds become F1-optimal and metrics are stored. Server folders only. */
    validation: datasetLocation.refine((s) => s.startsWith('/'), 'must be a server folder').optional(),
    backbone: z.enum(BACKBONE_NAMES as [BackboneName, ...BackboneName[]], { message: `must be one of ${BACKBONE_NAMES.join(', ')}` }).default('resnet18'),
    embedding: z.enum(['random', 'semi-orthogonal']).default('random'),
    d: z.number().int().min(1).optional(),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(42),
    size: z.number().int().min(32).max(1024).default(256),
    crop: z.number().int().min(32).max(1024).optional(),
    /** Extract jobs; default one per extract worker online (at least 16 images each). */
    shards: z.number().int().min(1).max(256).optional(),
    /** Fraction of the images held out of the fit to set the thresholds (ignored with `validation`). */
    holdout: z.number().min(0).lt(1).default(0.1),
    /** How the held-out images set the threshold; default mean + 3·std. Not with `validation` (thresholds are then F1-optimal on it). */
    thresholdRule: thresholdRule.optional(),
    /** Extend this version's stored statistics with the new images instead of starting over. */
    baseVersion: versionName.optional(),
    /** Make the new version current when it is published, unless a newer version is current by then. */
    promote: z.boolean().default(true),
    /** POSTed the run's completion event (training.succeeded or training.failed) when it ends; its host must be in PADIM_CALLBACK_HOSTS. */
    callbackUrl: callbackUrl.optional(),
  })
  .strict();

/** Bounds that depend on other fields: d against the backbone's feature count, crop against size. */
function checkTrainingRequest(
  req: { backbone: BackboneName; d?: number; size: number; crop?: number; validation?: string; thresholdRule?: unknown },
  ctx: z.RefinementCtx,
): void {
  const F = BACKBONE_FEATURES[req.backbone];
  if (req.validation !== undefined && req.thresholdRule !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['thresholdRule'], message: 'must not be given with validation (thresholds are then F1-optimal on it)' });
  }
  if (req.d !== undefined && req.d > F) ctx.addIssue({ code: 'custom', path: ['d'], message: `must be at most ${F} for ${req.backbone}` });
  if (req.crop !== undefined && req.crop > req.size) ctx.addIssue({ code: 'custom', path: ['crop'], message: `must be at most size (${req.size})` });
}

export const trainingRequest = trainingRequestFields.superRefine(checkTrainingRequest);

export type TrainingRequest = z.infer<typeof trainingRequest>;
export type TrainingRequestInput = z.input<typeof trainingRequest>;

/**
 * The request as the API accepts it: a `store:` dataset may not point into the fleet's own prefixes
 * (uploads are unpacked there by the API itself, which builds such requests without this check).
 */
export const trainingRequestBody = trainingRequest.superRefine((req, ctx) => {
  if (!isUserStoreKey(req.dataset))
    ctx.addIssue({ code: 'custom', path: ['dataset'], message: `must not name the fleet's own prefixes (${RESERVED_STORE_PREFIXES.join(', ')})` });
});

export const trainingBatchRequest = z.object({ runs: z.array(trainingRequestBody).min(1).max(100) }).strict();
export type TrainingBatchRequest = z.infer<typeof trainingBatchRequest>;

/** Default d per backbone (the paper's choices). */
export const DEFAULT_D: Record<BackboneName, number> = { resnet18: 100, resnet50: 550 };

/**
 * POST /v1/trainings/upload: the multipart field `request` holds this JSON (a training request whose
 * images come from the uploaded `archive` instead of `dataset`).
 */
export const trainingUploadRequest = trainingRequestFields.omit({ dataset: true, validation: true }).strict().superRefine(checkTrainingRequest);
export type TrainingUploadRequest = z.infer<typeof trainingUploadRequest>;
