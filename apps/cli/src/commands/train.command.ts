import * as path from 'node:path';
import { listMvtecTestSet, resolveTrainingFiles, trainModel, writeModelFolder } from '@padim-fleet/inference';
import { CommandSpec, numberOption, parseCommand, UsageError } from '../args';
import { MODEL_OPTIONS, RUNTIME_OPTIONS, embeddingFrom, inputFrom, loadBackbone, runtimeFrom } from '../common-options';
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
    ...MODEL_OPTIONS,
    ...RUNTIME_OPTIONS,
  },
  example: 'padim train --data ../shared/datasets/mvtec-ad/screw --backbone resnet18 --out models/screw',
} as const satisfies CommandSpec;

export async function trainCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, TRAIN_COMMAND);
  if (!values.data) throw new UsageError(`--data is required (padim train --help lists the options)`);
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
