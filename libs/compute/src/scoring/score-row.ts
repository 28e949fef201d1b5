import type { HistogramBin, ScoreRow, ScoringSummary } from '@padim-fleet/contracts';

export type { HistogramBin, ScoreRow, ScoringSummary };

export const RESULT_COLUMNS = ['file', 'score', 'normalizedScore', 'label', 'threshold', 'maxX', 'maxY', 'heatmap', 'mask', 'error'] as const;

/** RFC 4180: a field holding a comma, a quote or a line break is quoted, with quotes doubled. */
function csvField(value: unknown): string {
  const s = value === null || value === undefined ? '' : String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A header line and one line per row; an empty field is a null. */
export function toResultsCsv(rows: ScoreRow[]): string {
  const lines = [RESULT_COLUMNS.join(','), ...rows.map((row) => RESULT_COLUMNS.map((k) => csvField(row[k])).join(','))];
  return lines.join('\n') + '\n';
}

/** One JSON object per line (JSON escapes line breaks inside strings, so a line is always one row). */
export function toResultsJsonl(rows: ScoreRow[]): string {
  return rows.map((row) => JSON.stringify(Object.fromEntries(RESULT_COLUMNS.map((k) => [k, row[k]]))) + '\n').join('');
}

const HISTOGRAM_BINS = 10;

export function summarizeScores(rows: ScoreRow[], model: { category: string; version?: string; threshold: number }): ScoringSummary {
  const histogram: HistogramBin[] = Array.from({ length: HISTOGRAM_BINS }, (_, i) => ({
    from: i / HISTOGRAM_BINS,
    to: (i + 1) / HISTOGRAM_BINS,
    count: 0,
  }));
  let scored = 0;
  for (const row of rows) {
    if (row.score === null) continue;
    scored++;
    // normalizeScore clamps to [0, 1]; clamp again so a hand-made row cannot index outside the bins.
    const v = Math.min(1, Math.max(0, row.normalizedScore ?? 0));
    histogram[Math.min(HISTOGRAM_BINS - 1, Math.floor(v * HISTOGRAM_BINS))].count++;
  }
  const anomalies = rows
    .filter((r) => r.label === 'anomalous' && r.score !== null)
    .map((r) => ({ file: r.file, score: r.score!, normalizedScore: r.normalizedScore ?? 1 }))
    .sort((a, b) => b.score - a.score);
  const errors = rows.filter((r) => r.error !== null).map((r) => ({ file: r.file, error: r.error! }));
  return {
    images: rows.length,
    scored,
    failed: errors.length,
    anomalous: rows.filter((r) => r.label === 'anomalous').length,
    normal: rows.filter((r) => r.label === 'normal').length,
    threshold: model.threshold,
    histogram,
    anomalies,
    errors,
    model: model.version === undefined ? { category: model.category } : { category: model.category, version: model.version },
  };
}
