import * as path from 'node:path';
import { listMvtecTestSet, resolveTrainingFiles, trainModel, writeModelFolder } from '@padim-fleet/inference';
import type { ModelThresholds, ThresholdRule } from '@padim-fleet/padim-core';
import { CommandSpec, numberOption, parseCommand, UsageError } from '../args';
import {
  ACCUMULATE_OPTIONS,
  MODEL_OPTIONS,
  RUNTIME_OPTIONS,
  accumulateFrom,
  checkTrainingMemory,
  embeddingFrom,
  inputFrom,
  loadBackbone,
  runtimeFrom,
} from '../common-options';
import { progressBar } from '../progress-bar';

export const TRAIN_COMMAND = {
  name: 'train',
  summary: "fit a model on a category's train/good or a folder of images",
  synopsis: '--data <dir> [options]',
  description: 'Fits a PaDiM model on an MVTec-style category (its train/good) or any folder of images and writes it to --out.',
  options: {
    data: { type: 'string', value: 'dir', description: 'an MVTec-style category (train/good is used) or any folder of images (required)' },
    category: { type: 'string', value: 'name', description: 'the category named in the model (default: the folder name)' },
    out: { type: 'string', value: 'dir', description: 'the model folder to write (default models/<category>)' },
    holdout: { type: 'string', value: 'fraction', description: 'share of the images kept out of the fit to set the threshold (default 0.1)' },
    validation: { type: 'string', value: 'dir', description: 'folder with good/ and one folder per defect: F1-optimal thresholds on it' },
    'threshold-sigma': { type: 'string', value: 'k', description: 'threshold at mean + k·std of the held-out scores (default 3)' },
    'threshold-fpr': { type: 'string', value: 'rate', description: 'threshold that leaves this fraction of the held-out normal images above it' },
    ...MODEL_OPTIONS,
    ...RUNTIME_OPTIONS,
    ...ACCUMULATE_OPTIONS,
  },
  example: 'padim train --data ../shared/datasets/mvtec-ad/screw --backbone resnet18 --out models/screw',
} as const satisfies CommandSpec;

/** The threshold rule the options ask for; undefined means the default (mean + 3·std). */
export function thresholdRuleFrom(values: { 'threshold-fpr'?: string; 'threshold-sigma'?: string; validation?: string }): ThresholdRule | undefined {
  const fpr = numberOption(values['threshold-fpr'], 'threshold-fpr');
  const k = numberOption(values['threshold-sigma'], 'threshold-sigma');
  if (fpr !== undefined && k !== undefined) throw new UsageError('--threshold-fpr and --threshold-sigma are two rules: give one');
  const given = fpr !== undefined ? '--threshold-fpr' : k !== undefined ? '--threshold-sigma' : undefined;
  if (given && values.validation) throw new UsageError(`${given} does not apply with --validation (thresholds are then F1-optimal on it)`);
  if (fpr !== undefined) {
    if (!(fpr > 0 && fpr < 1)) throw new UsageError(`--threshold-fpr must be above 0 and below 1, got "${values['threshold-fpr']}"`);
    return { kind: 'fpr', fpr };
  }
  if (k !== undefined) {
    if (!(k > 0)) throw new UsageError(`--threshold-sigma must be above 0, got "${values['threshold-sigma']}"`);
    return { kind: 'sigma', k };
  }
  return undefined;
}

function significant(x: number): string {
  return Number(x.toPrecision(3)).toString();
}

/** What a model's threshold means, for a person: its rule, what it lets through among the normal images that set it, and why that may mislead. */
export function describeThresholds(t: ModelThresholds): string {
  const target = t.targetFpr !== undefined ? ` ${t.targetFpr}` : t.rule.endsWith('-kstd') ? ` k=${t.k}` : '';
  let text = `  threshold ${t.image.toFixed(3)} (${t.rule}${target}, ${t.sampleCount} images)\n`;
  const fp = t.falsePositives;
  if (fp) {
    const which = t.rule.startsWith('holdout') ? 'held-out normal' : t.rule.startsWith('training') ? 'training' : 'normal validation';
    text += `  false positives ${fp.count} of ${fp.of} ${which} images (rate ${significant(fp.rate)}, at most ${significant(fp.upper95)} with 95 % confidence)\n`;
  }
  for (const warning of t.warnings ?? []) text += `  warning: ${warning}\n`;
  return text;
}

export async function trainCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, TRAIN_COMMAND);
  if (!values.data) throw new UsageError(`--data is required (padim train --help lists the options)`);
  const data = path.resolve(values.data);
  const category = values.category ?? path.basename(data);
  const out = path.resolve(values.out ?? path.join('models', category));
  const thresholdRule = thresholdRuleFrom(values);
  const { folder, files } = await resolveTrainingFiles(data);
  const validation = values.validation ? await listMvtecTestSet(path.dirname(path.resolve(values.validation)), path.basename(values.validation)) : undefined;
  const runtime = runtimeFrom(values);
  const backbone = await loadBackbone(values);
  process.stderr.write(checkTrainingMemory(backbone, values) ?? '');
  process.stderr.write(`training ${category} on ${files.length} files from ${folder} with ${backbone.spec.name}\n`);
  const trained = await trainModel({
    category,
    files,
    backbone,
    embedding: embeddingFrom(values),
    ...inputFrom(values),
    holdout: numberOption(values.holdout, 'holdout'),
    validation,
    thresholdRule,
    runtime,
    batchSize: runtime.batchSize,
    ...accumulateFrom(values),
    onProgress: progressBar(),
  });
  for (const s of trained.manifest.training.skipped) process.stderr.write(`skipped ${s.error}\n`);
  await writeModelFolder(out, trained.manifest, trained.tensors);
  const m = trained.manifest;
  process.stdout.write(
    `model written to ${out}\n` +
      `  images ${m.training.imageCount} fitted, ${m.training.heldOutCount} held out, ${m.training.skipped.length} skipped; ${m.training.seconds.toFixed(1)} s\n` +
      describeThresholds(m.thresholds),
  );
}
