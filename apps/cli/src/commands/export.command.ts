import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { buildScorerGraph, readModelFolder, resolveBackbone } from '@padim-fleet/inference';
import { CommandSpec, parseCommand, UsageError } from '../args';
import { MODEL_OPTIONS, backboneOptionsFrom } from '../common-options';

export const EXPORT_COMMAND = {
  name: 'export',
  summary: 'write a model as one standalone ONNX scorer (pixels in, anomaly map and score out)',
  synopsis: '--model <dir> --out <file.onnx> [options]',
  description:
    'Writes one ONNX graph that scores without this project: input "image" [N, 3, side, side] float32 RGB in 0-255\n' +
    '(resized to the model\'s size and centre-cropped to its crop), outputs "anomaly_map" [N, side, side] and "score" [N].\n' +
    'Normalisation, backbone, channel selection, Mahalanobis distances, upsampling and blur are inside; the metadata\n' +
    'keys padim.input and padim.thresholds carry the input size and the thresholds.',
  options: {
    model: { type: 'string', value: 'dir', description: 'the model folder (required)' },
    out: { type: 'string', value: 'file.onnx', description: 'the ONNX file to write (required)' },
    backbone: { type: 'string', value: 'file.onnx', description: "the backbone's ONNX file, when the model's is not found by name" },
    'resnet18-dir': MODEL_OPTIONS['resnet18-dir'],
    'cache-dir': MODEL_OPTIONS['cache-dir'],
  },
  example: 'padim export --model models/screw --out screw-scorer.onnx',
  positionals: false,
} as const satisfies CommandSpec;

export async function exportCommand(argv: string[]): Promise<void> {
  const { values } = parseCommand(argv, EXPORT_COMMAND);
  if (!values.model || !values.out) throw new UsageError('--model and --out are required (padim export --help lists the options)');
  const out = path.resolve(values.out);
  const { manifest, tensors } = await readModelFolder(path.resolve(values.model));
  const backbone = await resolveBackbone(values.backbone ?? manifest.backbone.name, backboneOptionsFrom(values));
  const graph = buildScorerGraph(manifest, tensors, backbone);
  // Written beside the target and renamed into place: a failed export never leaves half a file.
  const temporary = path.join(path.dirname(out), `.${path.basename(out)}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    await fs.writeFile(temporary, graph, { flag: 'wx' });
    await fs.rename(temporary, out);
  } catch (error) {
    await fs.rm(temporary, { force: true });
    throw error;
  }
  const side = manifest.input.crop ?? manifest.input.size;
  process.stdout.write(
    `wrote ${out} (${(graph.length / 2 ** 20).toFixed(1)} MiB): input "image" [N, 3, ${side}, ${side}] RGB 0-255` +
      `${manifest.input.crop ? ` (resize to ${manifest.input.size}, centre crop ${side})` : ''}; outputs "anomaly_map" [N, ${side}, ${side}], "score" [N]; image threshold ${manifest.thresholds.image}\n`,
  );
}
