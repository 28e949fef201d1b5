import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { defaultCacheDir, generateSyntheticDataset, isDirectory } from '@padim-fleet/inference';
import { CommandSpec, parseCommand } from '../args';
import { evalCommand } from './eval.command';
import { scoreCommand } from './score.command';
import { trainCommand } from './train.command';

export const DEMO_COMMAND = {
  name: 'demo',
  summary: 'generate a small dataset, then train, evaluate and score it',
  synopsis: '[--dir <work dir>] [--backbone resnet50] [--d 100]',
  description:
    'Generates a small MVTec-style dataset (woven texture with painted scratches, stains and holes), trains a model on it,\n' +
    'evaluates it and writes heatmaps for the test images.',
  options: {
    dir: { type: 'string', value: 'dir', description: 'where the dataset, model and scores go (default .cache/demo)' },
    backbone: { type: 'string', default: 'resnet50', value: 'resnet18|resnet50|file.onnx', description: 'the feature extractor' },
    d: { type: 'string', default: '100', value: 'n', description: 'channels kept per patch' },
  },
  example: 'padim demo --dir /tmp/padim-demo',
} as const satisfies CommandSpec;

/** The README's main job: needs nothing but this repository and its npm packages. */
export async function demoCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, DEMO_COMMAND);
  const dir = path.resolve(values.dir ?? path.join(defaultCacheDir(), 'demo'));
  const data = path.join(dir, 'woven');
  if (!(await isDirectory(path.join(data, 'test')))) {
    await fs.rm(data, { recursive: true, force: true });
    const n = await generateSyntheticDataset(data, { size: 256 });
    process.stdout.write(`dataset: ${n.train} training and ${n.test} test images in ${data}\n`);
  }
  const model = path.join(dir, 'model');
  const common = ['--backbone', values.backbone!, '--d', values.d!, '--size', '224'];
  await trainCommand(['--data', data, '--category', 'woven', '--out', model, ...common]);
  await evalCommand(['--data', data, '--model', model]);
  await scoreCommand(['--model', model, '--out', path.join(dir, 'scores'), path.join(data, 'test')]);
}
