import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  PadimScorer,
  isDirectory,
  listImagesRecursive,
  readModelFolder,
  renderMaskPng,
  renderOverlayPng,
  resolveBackbone,
  scoreImages,
} from '@padim-fleet/inference';
import { normalizeScore } from '@padim-fleet/padim-core';
import { parse, UsageError } from '../args';
import { RUNTIME_OPTIONS, backboneOptionsFrom, runtimeFrom } from '../common-options';
import { progressBar } from '../progress-bar';

export const SCORE_USAGE = `padim score --model <dir> [--out <dir>] [--no-heatmaps] [--backbone <file.onnx>] <image|dir>...
  writes <out>/scores.csv, <out>/scores.json and, per image, <out>/heatmaps/<name>.png and <out>/masks/<name>.png`;

export interface ScoreRow {
  file: string;
  score: number | null;
  normalizedScore: number | null;
  label: 'anomalous' | 'normal' | null;
  maxX: number | null;
  maxY: number | null;
  heatmap: string | null;
  mask: string | null;
  error: string | null;
}

async function expandInputs(inputs: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const input of inputs) {
    const p = path.resolve(input);
    if (await isDirectory(p)) files.push(...(await listImagesRecursive(p)));
    else files.push(p);
  }
  return files;
}

function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(rows: ScoreRow[]): string {
  const keys = ['file', 'score', 'normalizedScore', 'label', 'maxX', 'maxY', 'heatmap', 'mask', 'error'] as const;
  return [keys.join(','), ...rows.map((r) => keys.map((k) => csvField(r[k])).join(','))].join('\n') + '\n';
}

/** Output names unique per input: the path relative to the common folder, with separators made safe. */
function outputName(file: string, base: string): string {
  return path.relative(base, file).replace(/[\\/]/g, '__').replace(/\.[^.]+$/, '') + '.png';
}

export async function scoreCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    { ...RUNTIME_OPTIONS, model: { type: 'string' }, out: { type: 'string' }, 'no-heatmaps': { type: 'boolean' }, backbone: { type: 'string' }, 'resnet18-dir': { type: 'string' }, 'cache-dir': { type: 'string' } },
    true,
  );
  if (!values.model || positionals.length === 0) throw new UsageError(`--model and at least one image or folder are required\n${SCORE_USAGE}`);
  const files = await expandInputs(positionals);
  if (files.length === 0) throw new UsageError(`no images found in ${positionals.join(', ')}`);
  const out = path.resolve(values.out ?? 'padim-scores');
  const { manifest, tensors } = await readModelFolder(path.resolve(values.model));
  const runtime = runtimeFrom(values);
  const backbone = await resolveBackbone(values.backbone ?? manifest.backbone.name, backboneOptionsFrom(values));
  const scorer = await PadimScorer.create(manifest, tensors, backbone, runtime);
  const heatmaps = !values['no-heatmaps'];
  const base = files.length === 1 ? path.dirname(files[0]) : commonFolder(files);
  if (heatmaps) {
    await fs.mkdir(path.join(out, 'heatmaps'), { recursive: true });
    await fs.mkdir(path.join(out, 'masks'), { recursive: true });
  }
  const rows = new Map<string, ScoreRow>();
  try {
    await scoreImages(scorer, files.map((file) => ({ file })), {
      batchSize: runtime.batchSize,
      onProgress: progressBar(),
      onResult: async (r) => {
        const file = (r.item as { file: string }).file;
        const row: ScoreRow = { file, score: null, normalizedScore: null, label: null, maxX: null, maxY: null, heatmap: null, mask: null, error: r.error ?? null };
        if (r.score !== undefined) {
          row.score = r.score;
          row.normalizedScore = normalizeScore(r.score, manifest.thresholds);
          row.label = r.score >= manifest.thresholds.image ? 'anomalous' : 'normal';
          row.maxX = r.maxLocation!.x;
          row.maxY = r.maxLocation!.y;
          if (heatmaps && r.map && r.pixels) {
            const name = outputName(file, base);
            row.heatmap = path.join(out, 'heatmaps', name);
            row.mask = path.join(out, 'masks', name);
            await fs.writeFile(row.heatmap, await renderOverlayPng(r.pixels, r.map, manifest.thresholds, scorer.side));
            await fs.writeFile(row.mask, await renderMaskPng(r.map, manifest.thresholds.pixel, scorer.side));
          }
        }
        rows.set(file, row);
      },
    });
  } finally {
    await scorer.release();
  }
  const ordered = files.map((f) => rows.get(f)!);
  await fs.mkdir(out, { recursive: true });
  await fs.writeFile(path.join(out, 'scores.csv'), toCsv(ordered));
  await fs.writeFile(path.join(out, 'scores.json'), JSON.stringify(ordered, null, 2) + '\n');
  const anomalous = ordered.filter((r) => r.label === 'anomalous').length;
  const failed = ordered.filter((r) => r.error !== null);
  for (const f of failed) process.stderr.write(`error ${f.error}\n`);
  process.stdout.write(`scored ${ordered.length - failed.length} images (${anomalous} anomalous, ${failed.length} failed); results in ${out}/scores.csv${heatmaps ? `, heatmaps in ${out}/heatmaps` : ''}\n`);
}

function commonFolder(files: string[]): string {
  let base = path.dirname(files[0]);
  while (!files.every((f) => f.startsWith(base + path.sep))) base = path.dirname(base);
  return base;
}
