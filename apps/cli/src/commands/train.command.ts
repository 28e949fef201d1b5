import * as path from 'node:path';
import { listMvtecTestSet, resolveTrainingFiles, trainModel, writeModelFolder } from '@padim-fleet/inference';
import { numberOption, parse, UsageError } from '../args';
import { MODEL_OPTIONS, RUNTIME_OPTIONS, embeddingFrom, inputFrom, loadBackbone, runtimeFrom } from '../common-options';
import { progressBar } from '../progress-bar';

export const TRAIN_USAGE = `padim train --data <dir> [--category <name>] [--backbone resnet18|resnet50|<file.onnx>] [--out <dir>]
  [--d <n>] [--seed <n> | --indices a,b,c] [--embedding random|semi-orthogonal] [--size 256] [--crop 224]
  [--holdout 0.1] [--validation <dir with good/ and defect folders>] [--device cpu|cuda] [--threads n] [--backbone-sessions 2] [--batch 8]
  --data is an MVTec-style category (train/good is used) or any folder of images.`;

export async function trainCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    ...MODEL_OPTIONS,
    ...RUNTIME_OPTIONS,
    data: { type: 'string' },
    category: { type: 'string' },
    out: { type: 'string' },
    holdout: { type: 'string' },
    validation: { type: 'string' },
  });
  if (!values.data) throw new UsageError(`--data is required\n${TRAIN_USAGE}`);
  const data = path.resolve(values.data);
  const category = values.category ?? path.basename(data);
  const out = path.resolve(values.out ?? path.join('models', category));
  const { folder, files } = await resolveTrainingFiles(data);
  const validation = values.validation
    ? await listMvtecTestSet(path.dirname(path.resolve(values.validation)), path.basename(values.validation))
    : undefined;
  const runtime = runtimeFrom(values);
  const backbone = await loadBackbone(values);
  process.stderr.write(`training ${category} on ${files.length} files from ${folder} with ${backbone.spec.name}\n`);
  const trained = await trainModel({
    category,
    files,
    backbone,
    embedding: embeddingFrom(values),
    ...inputFrom(values),
    holdout: numberOption(values.holdout, 'holdout'),
    validation,
    runtime,
    batchSize: runtime.batchSize,
    onProgress: progressBar(),
  });
  for (const s of trained.manifest.training.skipped) process.stderr.write(`skipped ${s.error}\n`);
  await writeModelFolder(out, trained.manifest, trained.tensors);
  const m = trained.manifest;
  process.stdout.write(
    `model written to ${out}\n` +
      `  images ${m.training.imageCount} fitted, ${m.training.heldOutCount} held out, ${m.training.skipped.length} skipped; ${m.training.seconds.toFixed(1)} s\n` +
      `  threshold ${m.thresholds.image.toFixed(3)} (${m.thresholds.rule}, ${m.thresholds.sampleCount} images)\n`,
  );
}
