import type { ModelManifest } from '@padim-fleet/padim-core';

/** GET /v1/models: one entry per category. */
export interface ModelCategorySummary {
  category: string;
  current: string | null;
  versions: number;
}

/** One version as GET /v1/models/:category shows it: what it was trained on and with, its thresholds and metrics. */
export interface ModelVersionSummary {
  version: string;
  current: boolean;
  createdAt: string;
  backbone: string;
  d: number;
  embedding: string;
  input: { size: number; crop: number | null };
  imageCount: number;
  /** The training summary: images fitted, held out to set the thresholds, skipped as unreadable, and seconds. */
  training: { imageCount: number; heldOutCount: number; skippedCount: number; seconds: number };
  thresholds: ModelManifest['thresholds'];
  metrics?: Record<string, number | null>;
  baseVersion: string | null;
  runId: string | null;
}

/** GET /v1/models/:category. */
export interface ModelCategoryDetail {
  category: string;
  current: string | null;
  versions: ModelVersionSummary[];
}
