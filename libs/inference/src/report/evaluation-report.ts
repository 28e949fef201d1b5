import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { centerCropOffsets, proCurve, rocCurve, type ModelManifest, type ModelThresholds } from '@padim-fleet/padim-core';
import sharp, { type OverlayOptions } from 'sharp';
import type { LabelledImage } from '@padim-fleet/contracts';
import { decodeImage } from '../images/decode-image';
import { type EvaluationMetrics, pixelLabelledImages } from '../pipeline/evaluate-model';
import type { ScoredImage } from '../pipeline/score-images';
import { renderMaskPng, renderOverlayPng } from '../render/heatmap';
import { CHART_SCALE, proChartSpec, renderChartPng, rocChartSpec, scoreHistogramSpec } from './report-charts';

/** The FPR up to which the PRO curve is drawn, as AUPRO@0.3 integrates it. */
export const REPORT_PRO_FPR_LIMIT = 0.3;
/** Rows of each kind in the worst-cases grid: highest-scoring good images, lowest-scoring defects. */
export const REPORT_WORST_CASES = 4;
/** Smallest side of a cell of the worst-cases grid, so that small models' images stay legible. */
const GRID_MIN_CELL = 192;
const GRID_LAYOUT = { margin: 12, gap: 8, header: 28, caption: 24, rowGap: 14 };
/** PRO points closer than this (in FPR and PRO) to the last one drawn are left out: millions of pixels give millions of points. */
const PRO_PLOT_STEP = 1e-4;

export interface EvaluationReportInput {
  manifest: Omit<ModelManifest, 'tensors'>;
  /** The thresholds the report shows and draws: the model's, or the F1-optimal ones of this evaluation. */
  thresholds: ModelThresholds;
  metrics: EvaluationMetrics;
  /** Every test image's result, each scored one with its anomaly map (and its mask when it has one). */
  results: ScoredImage<LabelledImage>[];
  /** The anomaly maps' side (the model's crop, or its input size). */
  side: number;
  /** The dataset folder evaluated, as shown in the report. */
  dataset: string;
}

export interface ReportFile {
  name: string;
  width?: number;
  height?: number;
}

interface DefectSummary {
  defect: string;
  images: number;
  failed: number;
  masks: number;
  formats: string[];
  sizes: string[];
}

/**
 * Writes `report.html` and the PNGs it shows into `dir`: the image ROC curve, the pixel PRO curve up
 * to FPR 0.3 (when the set has masks), score histograms of good vs each defect type with the
 * threshold, and the worst cases as original | ground truth | heatmap | mask.
 */
export async function writeEvaluationReport(dir: string, input: EvaluationReportInput): Promise<ReportFile[]> {
  await fs.mkdir(dir, { recursive: true });
  const scored = input.results.filter((r) => r.error === undefined);
  if (scored.some((r) => r.map === undefined)) throw new Error('writeEvaluationReport: every scored image needs its anomaly map (evaluateModel with keepMaps)');
  const files: ReportFile[] = [];
  const writePng = async (name: string, png: { png: Buffer; width: number; height: number }) => {
    await fs.writeFile(path.join(dir, name), png.png);
    files.push({ name, width: png.width, height: png.height });
  };

  const roc = rocCurve(
    scored.map((r) => r.score!),
    scored.map((r) => r.item.label),
  );
  await writePng('roc.png', await renderChartPng(rocChartSpec(roc, input.metrics.imageAUROC)));

  const pixelSet = pixelLabelledImages(scored);
  if (pixelSet.images && input.metrics.aupro !== null) {
    const curve = proCurve(pixelSet.images.maps, pixelSet.images.masks, { h: input.side, w: input.side }, REPORT_PRO_FPR_LIMIT, PRO_PLOT_STEP);
    await writePng('pro.png', await renderChartPng(proChartSpec(curve, input.metrics.aupro, REPORT_PRO_FPR_LIMIT)));
  }

  const histogram = scoreHistogramSpec(
    scored.map((r) => ({ score: r.score!, defect: r.item.defect })),
    { value: input.thresholds.image, label: `threshold (${input.thresholds.rule})` },
  );
  await writePng('score-histograms.png', await renderChartPng(histogram));

  const withGroundTruth = pixelSet.images !== null;
  await writePng('worst-cases.png', await worstCasesGrid(scored, input, withGroundTruth));

  const summary = await datasetSummary(input.results);
  await fs.writeFile(path.join(dir, 'report.html'), reportHtml(input, summary, files, pixelSet.skipped));
  files.push({ name: 'report.html' });
  return files;
}

/** The highest-scoring good images and the lowest-scoring defective ones, worst first. */
export function worstCases(scored: ScoredImage<LabelledImage>[], count = REPORT_WORST_CASES): { result: ScoredImage<LabelledImage>; why: string }[] {
  const good = scored.filter((r) => r.item.label === 0).sort((a, b) => b.score! - a.score!);
  const defective = scored.filter((r) => r.item.label === 1).sort((a, b) => a.score! - b.score!);
  return [
    ...good.slice(0, count).map((result) => ({ result, why: 'good, high score' })),
    ...defective.slice(0, count).map((result) => ({ result, why: `${result.item.defect}, low score` })),
  ];
}

async function worstCasesGrid(
  scored: ScoredImage<LabelledImage>[],
  input: EvaluationReportInput,
  withGroundTruth: boolean,
): Promise<{ png: Buffer; width: number; height: number }> {
  const { side, thresholds } = input;
  const columns = withGroundTruth ? ['original', 'ground truth', 'heatmap', 'mask'] : ['original', 'heatmap', 'mask'];
  const rows = worstCases(scored);
  const cell = Math.max(side, GRID_MIN_CELL);
  const { margin, gap, header, caption, rowGap } = GRID_LAYOUT;
  const width = 2 * margin + columns.length * cell + (columns.length - 1) * gap;
  const rowHeight = caption + cell;
  const height = 2 * margin + header + rows.length * rowHeight + Math.max(0, rows.length - 1) * rowGap;
  const layers: OverlayOptions[] = [];
  const texts: string[] = columns.map((c, k) => svgText(margin + k * (cell + gap) + cell / 2, margin + 18, c, { size: 16, weight: 'bold', anchor: 'middle' }));
  const dataRoot = path.resolve(input.dataset);
  for (let row = 0; row < rows.length; row++) {
    const { result, why } = rows[row];
    const top = margin + header + row * (rowHeight + rowGap);
    const name = path.relative(path.join(dataRoot, 'test'), result.item.file) || result.item.file;
    texts.push(svgText(margin, top + 17, `${name} · ${why} · score ${result.score!.toFixed(3)} (threshold ${thresholds.image.toFixed(3)})`, { size: 13 }));
    const cells = await gridCells(result, input, withGroundTruth);
    cells.forEach((png, k) => layers.push({ input: png, left: margin + k * (cell + gap), top: top + caption }));
  }
  const resized = await Promise.all(
    layers.map(async (l) => ({
      ...l,
      input: await sharp(l.input as Buffer)
        .resize(cell, cell, { kernel: 'nearest' })
        .png()
        .toBuffer(),
    })),
  );
  const textLayer = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${texts.join('')}</svg>`);
  const { data, info } = await sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite([...resized, { input: textLayer, left: 0, top: 0 }])
    .png()
    .toBuffer({ resolveWithObject: true });
  return { png: data, width: info.width, height: info.height };
}

/** One row of the grid: the image as the model saw it (resized, cropped), its ground truth, the heatmap overlay and the predicted mask. */
async function gridCells(result: ScoredImage<LabelledImage>, input: EvaluationReportInput, withGroundTruth: boolean): Promise<Buffer[]> {
  const { side, thresholds } = input;
  const size = input.manifest.input.size;
  const pixels = await decodeImage(result.item.file, { width: size, height: size });
  const { top, left } = centerCropOffsets(pixels.width, pixels.height, side);
  const original = await sharp(Buffer.from(pixels.data), { raw: { width: pixels.width, height: pixels.height, channels: pixels.channels } })
    .extract({ left, top, width: side, height: side })
    .png()
    .toBuffer();
  const cells: Buffer[] = [original];
  if (withGroundTruth) cells.push(await groundTruthPng(result, side));
  cells.push(await renderOverlayPng(pixels, result.map!, thresholds, side), await renderMaskPng(result.map!, thresholds.pixel, side));
  return cells;
}

/** The ground truth as a grey PNG: white where anomalous, black for normal images; grey when a defective image has no mask. */
async function groundTruthPng(result: ScoredImage<LabelledImage>, side: number): Promise<Buffer> {
  const out = Buffer.alloc(side * side, result.item.label === 1 && result.mask === undefined ? 128 : 0);
  if (result.mask) for (let i = 0; i < out.length; i++) out[i] = result.mask[i] ? 255 : 0;
  return sharp(out, { raw: { width: side, height: side, channels: 1 } })
    .png()
    .toBuffer();
}

/** Per defect type (good first): how many images, how many failed, how many have masks, their formats and sizes as read from the files. */
export async function datasetSummary(results: ScoredImage<LabelledImage>[]): Promise<DefectSummary[]> {
  const groups = new Map<string, ScoredImage<LabelledImage>[]>();
  for (const r of results) groups.set(r.item.defect, [...(groups.get(r.item.defect) ?? []), r]);
  const order = [...groups.keys()].sort((a, b) => (a === 'good' ? -1 : b === 'good' ? 1 : a.localeCompare(b)));
  const out: DefectSummary[] = [];
  for (const defect of order) {
    const group = groups.get(defect)!;
    const formats = new Set<string>();
    const sizes = new Set<string>();
    for (const r of group) {
      try {
        const meta = await sharp(r.item.file).metadata();
        formats.add(meta.format ?? 'unknown');
        sizes.add(`${meta.width}×${meta.height}`);
      } catch {
        formats.add('unreadable');
      }
    }
    out.push({
      defect,
      images: group.length,
      failed: group.filter((r) => r.error !== undefined).length,
      masks: group.filter((r) => r.item.mask !== undefined).length,
      formats: [...formats].sort(),
      sizes: [...sizes].sort(),
    });
  }
  return out;
}

function reportHtml(input: EvaluationReportInput, summary: DefectSummary[], files: ReportFile[], pixelSkipped: string | null): string {
  const m = input.manifest;
  const t = input.thresholds;
  const metrics = input.metrics;
  const value = (v: number | null | undefined, digits = 4) => (v === null || v === undefined ? 'n/a' : v.toFixed(digits));
  const has = (name: string) => files.some((f) => f.name === name);
  // Charts are drawn at CHART_SCALE pixels per CSS pixel: shown at their layout size, sharp on dense screens.
  const image = (name: string, alt: string, pixelsPerCssPixel = 1) => {
    const width = files.find((f) => f.name === name)?.width;
    const size = width ? ` width="${Math.round(width / pixelsPerCssPixel)}"` : '';
    return `<figure><img src="${name}"${size} alt="${escapeHtml(alt)}"><figcaption>${escapeHtml(alt)}</figcaption></figure>`;
  };
  const rule = [t.rule, t.k !== undefined ? `k = ${t.k}` : '', t.targetFpr !== undefined ? `target FPR ${t.targetFpr}` : ''].filter(Boolean).join(', ');
  const fp = t.falsePositives;
  const table = (rows: [string, string][]) => `<table>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>`;
  const datasetRows = summary
    .map(
      (s) =>
        `<tr><td>${escapeHtml(s.defect)}</td><td>${s.images}</td><td>${s.failed}</td><td>${s.defect === 'good' ? '—' : s.masks}</td><td>${escapeHtml(s.formats.join(', '))}</td><td>${escapeHtml(abbreviate(s.sizes))}</td></tr>`,
    )
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>PaDiM evaluation: ${escapeHtml(m.category)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 8px 0 20px; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: left; font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure { margin: 0 0 16px; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
.note { background: #fff7e0; border-left: 4px solid #e0a800; padding: 8px 12px; }
</style>
</head>
<body>
<h1>PaDiM evaluation: ${escapeHtml(m.category)}</h1>
<p>${escapeHtml(m.backbone.name)} · ${escapeHtml(m.embedding.kind)} d = ${m.embedding.d} · input ${m.input.size} px${m.input.crop ? `, crop ${m.input.crop}` : ''} · trained on ${m.training.imageCount} images · test set <code>${escapeHtml(input.dataset)}</code></p>
<h2>Metrics</h2>
${table([
  ['image AUROC', value(metrics.imageAUROC)],
  ['pixel AUROC', value(metrics.pixelAUROC)],
  [`AUPRO@${REPORT_PRO_FPR_LIMIT}`, value(metrics.aupro)],
  ['image F1-max', `${value(metrics.imageF1)} at ${value(metrics.imageF1Threshold, 3)}`],
  ['pixel F1-max', metrics.pixelF1 === null ? 'n/a' : `${value(metrics.pixelF1)} at ${value(metrics.pixelF1Threshold, 3)}`],
  ['images', `${metrics.images} scored (${metrics.anomalous} defective), ${metrics.failed} failed`],
])}
${pixelSkipped ? `<p class="note">No pixel metrics, PRO curve or ground-truth column: ${escapeHtml(pixelSkipped)}.</p>` : ''}
<h2>Thresholds</h2>
${table([
  ['rule', rule],
  ['image threshold', value(t.image, 4)],
  ['pixel threshold', value(t.pixel, 4)],
  ['score range (normalisation)', `${value(t.min, 4)} to ${value(t.max, 4)}`],
  ['set on', `${t.sampleCount} images`],
  ['false positives where set', fp ? `${fp.count} of ${fp.of} (rate ${fp.rate.toFixed(4)}, ≤ ${fp.upper95.toFixed(4)} at 95 %)` : 'n/a'],
  ...(t.warnings ?? []).map((w): [string, string] => ['warning', w]),
])}
<h2>Dataset</h2>
<table><tr><th>folder</th><th>images</th><th>failed</th><th>masks</th><th>formats</th><th>sizes</th></tr>${datasetRows}</table>
<h2>Curves</h2>
<div class="charts">
${image('roc.png', 'Image-level ROC curve', CHART_SCALE)}
${has('pro.png') ? image('pro.png', `Pixel-level PRO curve up to FPR ${REPORT_PRO_FPR_LIMIT}`, CHART_SCALE) : '<p class="note">No PRO curve: the test set has no ground-truth masks.</p>'}
</div>
<h2>Score histograms</h2>
${image('score-histograms.png', 'Image scores of the good images vs each defect type, with the image threshold', CHART_SCALE)}
<h2>Worst cases</h2>
<p>The ${REPORT_WORST_CASES} highest-scoring good images and the ${REPORT_WORST_CASES} lowest-scoring defective images, each as the model saw it (resized and cropped)${pixelSkipped ? '' : ', its ground truth'}, the heatmap (blue normal, red at or beyond twice the threshold distance) and the predicted mask (pixel threshold).</p>
${image('worst-cases.png', `Worst cases: original | ${pixelSkipped ? '' : 'ground truth | '}heatmap | mask`)}
</body>
</html>
`;
}

function abbreviate(values: string[], shown = 3): string {
  return values.length <= shown ? values.join(', ') : `${values.slice(0, shown).join(', ')} and ${values.length - shown} more`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function svgText(x: number, y: number, text: string, opts: { size: number; weight?: string; anchor?: string }): string {
  return `<text x="${x}" y="${y}" font-family="sans-serif" font-size="${opts.size}" font-weight="${opts.weight ?? 'normal'}" text-anchor="${opts.anchor ?? 'start'}" fill="#222">${escapeHtml(text)}</text>`;
}
