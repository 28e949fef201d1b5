import type { Normalization } from '../backbone/backbone-spec';

export const MODEL_FORMAT_VERSION = 1;

/** The files of a model, in a model folder and under a version's prefix in the registry. */
export const MANIFEST_FILE = 'manifest.json';
export const MEAN_FILE = 'mean.f32';
export const INV_CHOLESKY_FILE = 'inv_cholesky.f32';
/** The merged Gaussian statistics (accumulator format), kept beside the tensors to extend the model later. */
export const ACCUMULATOR_FILE = 'accumulator.pdmacc';

/** A binary tensor beside the manifest: raw little-endian values, checked by length and SHA-256 on load. */
export interface TensorEntry {
  file: string;
  dtype: 'float32' | 'float64';
  shape: number[];
  bytes: number;
  sha256: string;
}

export type EmbeddingSelection = { kind: 'random'; d: number; seed: number | null; indices: number[] } | { kind: 'semi-orthogonal'; d: number; seed: number };

/**
 * How raw scores map to decisions. `image` is the image-score threshold; normalised scores are
 * min-max scaled so that the threshold lands at 0.5: clamp((s - image) / (max - min) + 0.5, 0, 1).
 */
export interface ModelThresholds {
  image: number;
  pixel: number;
  min: number;
  max: number;
  /** 'unset' only while a trainer has not computed them yet; writeModelFolder refuses it. */
  rule: ThresholdRuleName | 'unset';
  sampleCount: number;
  /** k of a mean + k·std rule. */
  k?: number;
  /** The target false-positive rate of an fpr rule. */
  targetFpr?: number;
  /** What the image threshold labels anomalous among the normal images that set it (absent in older manifests). */
  falsePositives?: FalsePositives;
  /** Why the false-positive rate above may mislead (a target finer than the sample resolves, training images reused). */
  warnings?: string[];
}

export const THRESHOLD_RULE_NAMES = [
  'validation-f1',
  'holdout-mean-3std',
  'training-mean-3std',
  'holdout-mean-kstd',
  'training-mean-kstd',
  'holdout-fpr',
  'training-fpr',
] as const;
export type ThresholdRuleName = (typeof THRESHOLD_RULE_NAMES)[number];

/** `count` of `of` normal images at or above the threshold: `rate` = count / of, `upper95` its one-sided 95 % upper bound. */
export interface FalsePositives {
  count: number;
  of: number;
  rate: number;
  upper95: number;
}

export interface ModelManifest {
  format: 'padim-model';
  formatVersion: number;
  category: string;
  createdAt: string;
  backbone: {
    name: string;
    outputs: [string, string, string];
    channels: [number, number, number];
    strides: [number, number, number];
    normalization: Normalization;
    /** SHA-256 of the ONNX graph the features came from, so scoring refuses a different one. */
    onnxSha256: string;
  };
  input: { size: number; crop: number | null };
  grid: { height: number; width: number };
  featureCount: number;
  embedding: EmbeddingSelection;
  regularization: number;
  training: { imageCount: number; heldOutCount: number; skipped: { file: string; error: string }[]; seconds: number };
  thresholds: ModelThresholds;
  /** Metrics on a labelled set; null where the set cannot measure one (pixel metrics without masks). */
  metrics?: Record<string, number | null>;
  tensors: { mean: TensorEntry; invCholesky: TensorEntry };
  /** The merged Gaussian statistics (accumulator format), kept so that a later run can extend the model. */
  accumulator?: ArtifactEntry;
  /** The training run that made this version, and the version it extended, if any. */
  lineage?: { runId: string; baseVersion: string | null };
}

export interface ArtifactEntry {
  file: string;
  bytes: number;
  sha256: string;
}

export class ModelFormatError extends Error {
  override name = 'ModelFormatError';
}

type Json = Record<string, unknown>;

function fail(path: string, what: string): never {
  throw new ModelFormatError(`model manifest: ${path} ${what}`);
}
function obj(v: unknown, path: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'must be an object');
  return v as Json;
}
function num(v: unknown, path: string, opts: { int?: boolean; min?: number } = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, 'must be a finite number');
  if (opts.int && !Number.isInteger(v)) fail(path, 'must be an integer');
  if (opts.min !== undefined && v < opts.min) fail(path, `must be >= ${opts.min}`);
  return v;
}
function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0) fail(path, 'must be a non-empty string');
  return v;
}
function tuple3<T extends number | string>(v: unknown, path: string, kind: 'number' | 'string'): [T, T, T] {
  if (!Array.isArray(v) || v.length !== 3 || v.some((x) => typeof x !== kind)) fail(path, `must be three ${kind}s`);
  return v as [T, T, T];
}

function tensorEntry(v: unknown, path: string): TensorEntry {
  const t = obj(v, path);
  const dtype = t.dtype;
  if (dtype !== 'float32' && dtype !== 'float64') fail(`${path}.dtype`, 'must be float32 or float64');
  const shape = t.shape;
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) fail(`${path}.shape`, 'must be a list of sizes');
  const bytes = num(t.bytes, `${path}.bytes`, { int: true, min: 0 });
  const expected = (shape as number[]).reduce((a, b) => a * b, 1) * (dtype === 'float32' ? 4 : 8);
  if (bytes !== expected) fail(`${path}.bytes`, `is ${bytes} but shape [${shape.join(', ')}] of ${dtype} needs ${expected}`);
  return { file: fileName(t.file, `${path}.file`), dtype, shape: shape as number[], bytes, sha256: sha256Of(t.sha256, `${path}.sha256`) };
}

function sha256Of(v: unknown, path: string): string {
  const sha256 = str(v, path);
  if (!/^[0-9a-f]{64}$/.test(sha256)) fail(path, 'must be 64 hex digits');
  return sha256;
}

function fileName(v: unknown, path: string): string {
  const file = str(v, path);
  if (file.includes('/') || file.includes('\\') || file.startsWith('.')) fail(path, 'must be a plain file name');
  return file;
}

/** The optional fields of thresholds that newer trainers record; older manifests have none of them. */
function thresholdDetails(th: Json): Pick<ModelThresholds, 'k' | 'targetFpr' | 'falsePositives' | 'warnings'> {
  const details: Pick<ModelThresholds, 'k' | 'targetFpr' | 'falsePositives' | 'warnings'> = {};
  if (th.k !== undefined) details.k = num(th.k, 'thresholds.k', { min: 0 });
  if (th.targetFpr !== undefined) details.targetFpr = num(th.targetFpr, 'thresholds.targetFpr', { min: 0 });
  if (th.falsePositives !== undefined) {
    const fp = obj(th.falsePositives, 'thresholds.falsePositives');
    details.falsePositives = {
      count: num(fp.count, 'thresholds.falsePositives.count', { int: true, min: 0 }),
      of: num(fp.of, 'thresholds.falsePositives.of', { int: true, min: 0 }),
      rate: num(fp.rate, 'thresholds.falsePositives.rate', { min: 0 }),
      upper95: num(fp.upper95, 'thresholds.falsePositives.upper95', { min: 0 }),
    };
  }
  if (th.warnings !== undefined) {
    if (!Array.isArray(th.warnings) || th.warnings.some((w) => typeof w !== 'string')) fail('thresholds.warnings', 'must be a list of strings');
    details.warnings = th.warnings as string[];
  }
  return details;
}

/** Validates a parsed manifest; every error names the field and what was wrong. */
export function parseModelManifest(value: unknown): ModelManifest {
  const m = obj(value, '(root)');
  if (m.format !== 'padim-model') fail('format', `is ${JSON.stringify(m.format)}, not "padim-model"`);
  const version = num(m.formatVersion, 'formatVersion', { int: true });
  if (version !== MODEL_FORMAT_VERSION) {
    fail('formatVersion', `is ${version}; this build reads version ${MODEL_FORMAT_VERSION}`);
  }
  const backbone = obj(m.backbone, 'backbone');
  const norm = obj(backbone.normalization, 'backbone.normalization');
  if (norm.channelOrder !== 'rgb' && norm.channelOrder !== 'bgr') fail('backbone.normalization.channelOrder', 'must be rgb or bgr');
  const input = obj(m.input, 'input');
  const grid = obj(m.grid, 'grid');
  const featureCount = num(m.featureCount, 'featureCount', { int: true, min: 1 });
  const emb = obj(m.embedding, 'embedding');
  const d = num(emb.d, 'embedding.d', { int: true, min: 1 });
  if (d > featureCount) fail('embedding.d', `(${d}) exceeds featureCount (${featureCount})`);
  let embedding: EmbeddingSelection;
  if (emb.kind === 'random') {
    const indices = emb.indices;
    if (!Array.isArray(indices) || indices.length !== d) fail('embedding.indices', `must list d=${d} channels`);
    for (const i of indices as unknown[]) {
      if (!Number.isInteger(i) || (i as number) < 0 || (i as number) >= featureCount)
        fail('embedding.indices', `has ${String(i)}, outside 0..${featureCount - 1}`);
    }
    embedding = { kind: 'random', d, seed: emb.seed === null ? null : num(emb.seed, 'embedding.seed', { int: true }), indices: indices as number[] };
  } else if (emb.kind === 'semi-orthogonal') {
    embedding = { kind: 'semi-orthogonal', d, seed: num(emb.seed, 'embedding.seed', { int: true }) };
  } else {
    fail('embedding.kind', 'must be random or semi-orthogonal');
  }
  const th = obj(m.thresholds, 'thresholds');
  if (!THRESHOLD_RULE_NAMES.includes(th.rule as ThresholdRuleName)) fail('thresholds.rule', `must be one of ${THRESHOLD_RULE_NAMES.join(', ')}`);
  const training = obj(m.training, 'training');
  const tensors = obj(m.tensors, 'tensors');
  const height = num(grid.height, 'grid.height', { int: true, min: 1 });
  const width = num(grid.width, 'grid.width', { int: true, min: 1 });
  const manifest: ModelManifest = {
    format: 'padim-model',
    formatVersion: version,
    category: str(m.category, 'category'),
    createdAt: str(m.createdAt, 'createdAt'),
    backbone: {
      name: str(backbone.name, 'backbone.name'),
      outputs: tuple3(backbone.outputs, 'backbone.outputs', 'string'),
      channels: tuple3(backbone.channels, 'backbone.channels', 'number'),
      strides: tuple3(backbone.strides, 'backbone.strides', 'number'),
      normalization: {
        channelOrder: norm.channelOrder,
        scale: num(norm.scale, 'backbone.normalization.scale'),
        mean: tuple3(norm.mean, 'backbone.normalization.mean', 'number'),
        std: tuple3(norm.std, 'backbone.normalization.std', 'number'),
      },
      onnxSha256: str(backbone.onnxSha256, 'backbone.onnxSha256'),
    },
    input: {
      size: num(input.size, 'input.size', { int: true, min: 16 }),
      crop: input.crop === null || input.crop === undefined ? null : num(input.crop, 'input.crop', { int: true, min: 16 }),
    },
    grid: { height, width },
    featureCount,
    embedding,
    regularization: num(m.regularization, 'regularization', { min: 0 }),
    training: {
      imageCount: num(training.imageCount, 'training.imageCount', { int: true, min: 2 }),
      heldOutCount: num(training.heldOutCount, 'training.heldOutCount', { int: true, min: 0 }),
      skipped: Array.isArray(training.skipped) ? (training.skipped as { file: string; error: string }[]) : fail('training.skipped', 'must be a list'),
      seconds: num(training.seconds, 'training.seconds', { min: 0 }),
    },
    thresholds: {
      image: num(th.image, 'thresholds.image'),
      pixel: num(th.pixel, 'thresholds.pixel'),
      min: num(th.min, 'thresholds.min'),
      max: num(th.max, 'thresholds.max'),
      rule: th.rule as ThresholdRuleName,
      sampleCount: num(th.sampleCount, 'thresholds.sampleCount', { int: true, min: 0 }),
      ...thresholdDetails(th),
    },
    metrics: m.metrics === undefined ? undefined : (obj(m.metrics, 'metrics') as Record<string, number | null>),
    tensors: {
      mean: tensorEntry(tensors.mean, 'tensors.mean'),
      invCholesky: tensorEntry(tensors.invCholesky, 'tensors.invCholesky'),
    },
  };
  if (m.accumulator !== undefined) {
    const a = obj(m.accumulator, 'accumulator');
    manifest.accumulator = {
      file: fileName(a.file, 'accumulator.file'),
      bytes: num(a.bytes, 'accumulator.bytes', { int: true, min: 64 }),
      sha256: sha256Of(a.sha256, 'accumulator.sha256'),
    };
  }
  if (m.lineage !== undefined) {
    const l = obj(m.lineage, 'lineage');
    manifest.lineage = { runId: str(l.runId, 'lineage.runId'), baseVersion: l.baseVersion === null ? null : str(l.baseVersion, 'lineage.baseVersion') };
  }
  const positions = height * width;
  const packed = (d * (d + 1)) / 2;
  const meanShape = manifest.tensors.mean.shape;
  if (meanShape.length !== 2 || meanShape[0] !== positions || meanShape[1] !== d) {
    fail('tensors.mean.shape', `must be [${positions}, ${d}] for a ${height}x${width} grid and d=${d}`);
  }
  const factorShape = manifest.tensors.invCholesky.shape;
  if (factorShape.length !== 2 || factorShape[0] !== positions || factorShape[1] !== packed) {
    fail('tensors.invCholesky.shape', `must be [${positions}, ${packed}] (packed lower triangle of d=${d})`);
  }
  return manifest;
}

/** A stored tensor's length and SHA-256, as its manifest entry records them. */
export interface StoredTensor {
  bytes: number;
  sha256: string;
}

/**
 * Throws ModelFormatError, naming `model`, unless both tensors are float32: the only dtype the scorers
 * read. parseModelManifest has already checked their shapes against the grid and d, and their bytes
 * against shape and dtype.
 */
export function assertFloat32Tensors(manifest: ModelManifest, model: string): void {
  for (const tensor of [manifest.tensors.mean, manifest.tensors.invCholesky]) {
    if (tensor.dtype !== 'float32') throw new ModelFormatError(`model ${model}: ${tensor.file} is ${tensor.dtype}; only float32 tensors are read`);
  }
}

/**
 * The complete manifest of a model: `manifest` with the entries of its two tensors (stored as MEAN_FILE
 * and INV_CHOLESKY_FILE), then, where the model has them, its stored statistics and its lineage.
 * Checked to read back: nothing is published that could not be loaded.
 */
export function manifestWithTensors(
  manifest: Omit<ModelManifest, 'tensors'>,
  tensors: { mean: StoredTensor; invCholesky: StoredTensor },
  kept: Pick<ModelManifest, 'accumulator' | 'lineage'> = {},
): ModelManifest {
  const d = manifest.embedding.d;
  const positions = manifest.grid.height * manifest.grid.width;
  const entry = (file: string, stored: StoredTensor, shape: number[]): TensorEntry => ({
    file,
    dtype: 'float32',
    shape,
    bytes: stored.bytes,
    sha256: stored.sha256,
  });
  const full: ModelManifest = {
    ...manifest,
    tensors: {
      mean: entry(MEAN_FILE, tensors.mean, [positions, d]),
      invCholesky: entry(INV_CHOLESKY_FILE, tensors.invCholesky, [positions, (d * (d + 1)) / 2]),
    },
    ...(kept.accumulator && { accumulator: kept.accumulator }),
    ...(kept.lineage && { lineage: kept.lineage }),
  };
  parseModelManifest(JSON.parse(JSON.stringify(full)));
  return full;
}

/** Min-max normalisation with the threshold at 0.5 (anomalib's rule), clamped to [0, 1]. */
export function normalizeScore(score: number, thresholds: Pick<ModelThresholds, 'image' | 'min' | 'max'>, threshold = thresholds.image): number {
  const range = thresholds.max - thresholds.min;
  const v = range > 0 ? (score - threshold) / range + 0.5 : score >= threshold ? 1 : 0;
  return Math.min(1, Math.max(0, v));
}
