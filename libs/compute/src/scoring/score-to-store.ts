import { ImageReader, PadimScorer, ProgressListener, renderMaskPng, renderOverlayPng, scoreImages } from '@padim-fleet/inference';
import { normalizeScore } from '@padim-fleet/padim-core';
import { BlobStore, SCORING_OUTPUTS } from '@padim-fleet/storage';
import { distinctOutputPngNames } from './output-names';
import { ScoreRow, ScoringSummary, summarizeScores, toResultsCsv, toResultsJsonl } from './score-row';

/** `file` names the input in the output rows; `ref` is what `read` (or the file system) reads. */
export interface ScoreItem {
  file: string;
  ref: string;
}

export interface ScoreToStoreOptions {
  output: BlobStore;
  /** '' or ending in '/': PNGs go to `${prefix}heatmaps/<name>` and `${prefix}masks/<name>`. */
  prefix: string;
  /** Reads an item's bytes by `ref`; default: `ref` is a local path. */
  read?: ImageReader;
  /** Write the overlay and mask PNGs (default true). */
  heatmaps?: boolean;
  batchSize?: number;
  pixelLimit?: number;
  onProgress?: ProgressListener;
  /** PNG renders and uploads in flight at once (default 8); scoring waits when this many are pending. */
  maxPendingWrites?: number;
}

function checkPrefix(prefix: string): void {
  if (prefix !== '' && !prefix.endsWith('/')) throw new TypeError(`output prefix must be '' or end with '/', got ${JSON.stringify(prefix)}`);
}

/** Runs writes concurrently, at most `limit` at once; the first failure is kept and rethrown. */
class BoundedWrites {
  private readonly pending = new Set<Promise<void>>();
  private failure: { error: unknown } | undefined;

  constructor(private readonly limit: number) {}

  async add(task: () => Promise<unknown>): Promise<void> {
    this.throwIfFailed();
    while (this.pending.size >= this.limit) {
      await Promise.race(this.pending);
      this.throwIfFailed();
    }
    const done: Promise<void> = task()
      .then(
        () => undefined,
        (error: unknown) => {
          this.failure ??= { error };
        },
      )
      .finally(() => this.pending.delete(done));
    this.pending.add(done);
  }

  /** Waits for every write; does not throw (see throwIfFailed). */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}

/** decodeImage names the source by its ref; rows name it by `file`, and the row already says which input it is. */
function reasonOf(error: string, ref: string): string {
  return error.startsWith(`${ref}: `) ? error.slice(ref.length + 2) : error;
}

/**
 * Scores `items` and writes a heatmap overlay and a binary mask PNG per scored image to `opts.output`.
 * Returns one row per item, in input order. An image that cannot be read or decoded gives a row with
 * `error` and the batch goes on; a failed write to the output store fails the call. PNGs are rendered and
 * uploaded while the next images are scored, with at most `maxPendingWrites` in flight.
 */
export async function scoreToStore(scorer: PadimScorer, items: ScoreItem[], opts: ScoreToStoreOptions): Promise<ScoreRow[]> {
  checkPrefix(opts.prefix);
  const manifest = scorer.manifest;
  const thresholds = manifest.thresholds;
  const heatmaps = opts.heatmaps ?? true;
  const writes = new BoundedWrites(Math.max(1, opts.maxPendingWrites ?? 8));
  const rows: ScoreRow[] = items.map((item) => ({
    file: item.file,
    score: null,
    normalizedScore: null,
    label: null,
    threshold: thresholds.image,
    maxX: null,
    maxY: null,
    heatmap: null,
    mask: null,
    error: null,
  }));
  // Items of the same name get PNGs of their own: one would otherwise overwrite the other's.
  const outputNames = distinctOutputPngNames(items.map((item) => item.file));
  // The index travels with the item, so rows map back even when two items share a ref.
  const refs = items.map((item, index) => ({ file: item.ref, index }));
  try {
    await scoreImages(scorer, refs, {
      batchSize: opts.batchSize,
      pixelLimit: opts.pixelLimit,
      read: opts.read,
      onProgress: opts.onProgress,
      onResult: async (result) => {
        const { index } = result.item as (typeof refs)[number];
        const row = rows[index];
        if (result.score === undefined) {
          row.error = reasonOf(result.error ?? 'not scored', items[index].ref);
          return;
        }
        row.score = result.score;
        row.normalizedScore = normalizeScore(result.score, thresholds);
        row.label = result.score >= thresholds.image ? 'anomalous' : 'normal';
        row.maxX = result.maxLocation?.x ?? null;
        row.maxY = result.maxLocation?.y ?? null;
        const { map, pixels } = result;
        if (!heatmaps || !map || !pixels) return;
        const name = outputNames[index];
        row.heatmap = SCORING_OUTPUTS.heatmaps + name;
        row.mask = SCORING_OUTPUTS.masks + name;
        const heatmapKey = opts.prefix + row.heatmap;
        const maskKey = opts.prefix + row.mask;
        await writes.add(async () => {
          const [overlay, mask] = await Promise.all([
            renderOverlayPng(pixels, map, thresholds, scorer.side),
            renderMaskPng(map, thresholds.pixel, scorer.side),
          ]);
          await Promise.all([opts.output.put(heatmapKey, overlay, { contentType: 'image/png' }), opts.output.put(maskKey, mask, { contentType: 'image/png' })]);
        });
      },
    });
  } finally {
    // Nothing keeps writing after this call returns or throws.
    await writes.settle();
  }
  writes.throwIfFailed();
  return rows;
}

export interface ScoringResultKeys {
  csv: string;
  jsonl: string;
  summary: string;
}

/** Writes `results.csv`, `results.jsonl` and `summary.json` under `prefix` (summary last) and returns the summary. */
export async function writeScoringResults(
  output: BlobStore,
  prefix: string,
  rows: ScoreRow[],
  model: { category: string; version?: string; threshold: number },
): Promise<{ summary: ScoringSummary; keys: ScoringResultKeys }> {
  checkPrefix(prefix);
  const keys = { csv: prefix + SCORING_OUTPUTS.resultsCsv, jsonl: prefix + SCORING_OUTPUTS.resultsJsonl, summary: prefix + SCORING_OUTPUTS.summary };
  const summary = summarizeScores(rows, model);
  await output.put(keys.csv, toResultsCsv(rows), { contentType: 'text/csv; charset=utf-8' });
  await output.put(keys.jsonl, toResultsJsonl(rows), { contentType: 'application/x-ndjson' });
  await output.put(keys.summary, JSON.stringify(summary, null, 2) + '\n', { contentType: 'application/json' });
  return { summary, keys };
}
