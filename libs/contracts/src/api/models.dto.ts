import { z } from 'zod';

/** A version's thresholds as its manifest holds them (padim-core's ModelThresholds). */
export const modelThresholds = z.object({
  image: z.number(),
  pixel: z.number(),
  min: z.number(),
  max: z.number(),
  /** The rule that set them, e.g. 'holdout-mean-3std' or 'validation-f1'. */
  rule: z.string(),
  sampleCount: z.number().int(),
  k: z.number().optional(),
  targetFpr: z.number().optional(),
  falsePositives: z.object({ count: z.number().int(), of: z.number().int(), rate: z.number(), upper95: z.number() }).optional(),
  warnings: z.array(z.string()).optional(),
});

/** GET /v1/models: one entry per category. */
export const modelCategorySummary = z.object({
  category: z.string(),
  current: z.string().nullable(),
  versions: z.number().int(),
});
export type ModelCategorySummary = z.infer<typeof modelCategorySummary>;
export const modelCategoryList = z.array(modelCategorySummary);

/** One version as GET /v1/models/:category shows it: what it was trained on and with, its thresholds and metrics. */
export const modelVersionSummary = z.object({
  version: z.string(),
  current: z.boolean(),
  createdAt: z.string(),
  backbone: z.string(),
  d: z.number().int(),
  embedding: z.string(),
  input: z.object({ size: z.number().int(), crop: z.number().int().nullable() }),
  imageCount: z.number().int(),
  /** The training summary: images fitted, held out to set the thresholds, skipped as unreadable, and seconds. */
  training: z.object({ imageCount: z.number().int(), heldOutCount: z.number().int(), skippedCount: z.number().int(), seconds: z.number() }),
  thresholds: modelThresholds,
  metrics: z.record(z.string(), z.number().nullable()).optional(),
  baseVersion: z.string().nullable(),
  runId: z.string().nullable(),
});
export type ModelVersionSummary = z.infer<typeof modelVersionSummary>;

/** GET /v1/models/:category. */
export const modelCategoryDetail = z.object({
  category: z.string(),
  current: z.string().nullable(),
  versions: z.array(modelVersionSummary),
});
export type ModelCategoryDetail = z.infer<typeof modelCategoryDetail>;

/** POST /v1/models/:category/versions/:version/promote. */
export const modelPromoted = z.object({ category: z.string(), current: z.string() });
export type ModelPromoted = z.infer<typeof modelPromoted>;

/** 201 of POST /v1/models/:category/import: the version published, and the category's current version after it. */
export const modelImported = z.object({ category: z.string(), version: z.string(), current: z.string().nullable() });
export type ModelImported = z.infer<typeof modelImported>;
