import * as path from 'node:path';
import { PadimScorer, readModelFolder, readModelFolderKernel, readModelManifest, resolveBackbone } from '@padim-fleet/inference';
import { ScoreRow, scoreToStore, writeScoringResults } from '@padim-fleet/compute';
import { LocalBlobStore } from '@padim-fleet/storage';
import { CommandSpec, parseCommand, UsageError } from '../args';
import { MODEL_OPTIONS, RUNTIME_OPTIONS, backboneOptionsFrom, runtimeFrom } from '../common-options';
import { progressBar } from '../progress-bar';
import { scoreInputChunks } from '../scoring/score-inputs';

export const SCORE_COMMAND = {
  name: 'score',
  summary: 'score images, folders and archives: results, heatmaps and masks',
  synopsis: '--model <dir> [--out <dir>] [--no-heatmaps] [options] <image|dir|archive>...',
  description:
    'Scores images, folders (recursively) and .zip/.tar/.tar.gz archives; writes <out>/results.csv, <out>/results.jsonl,\n' +
    '<out>/summary.json and, per image, <out>/heatmaps/<name>.png and <out>/masks/<name>.png.',
  options: {
    model: { type: 'string', value: 'dir', description: 'the model folder (required)' },
    out: { type: 'string', value: 'dir', description: 'where the results go (default padim-scores)' },
    'no-heatmaps': { type: 'boolean', description: 'write no heatmap or mask PNGs' },
    backbone: { type: 'string', value: 'file.onnx', description: "the backbone's ONNX file, when the model's is not found by name" },
    'resnet18-dir': MODEL_OPTIONS['resnet18-dir'],
    'cache-dir': MODEL_OPTIONS['cache-dir'],
    ...RUNTIME_OPTIONS,
  },
  example: 'padim score --model models/screw --out scores ../shared/datasets/mvtec-ad/screw/test/scratch_head',
  positionals: true,
} as const satisfies CommandSpec;

export async function scoreCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseCommand(argv, SCORE_COMMAND);
  if (!values.model || positionals.length === 0)
    throw new UsageError(`--model and at least one image, folder or archive are required (padim score --help lists the options)`);
  const out = path.resolve(values.out ?? 'padim-scores');
  const runtime = runtimeFrom(values);
  const heatmaps = !values['no-heatmaps'];
  // Listing the inputs and inspecting every archive comes first: a missing input or a hostile archive fails before the model loads or anything is written.
  const chunks = scoreInputChunks(positionals);
  try {
    let next = await chunks.next();
    if (next.done) throw new UsageError(`no images found in ${positionals.join(', ')}`);
    const modelDir = path.resolve(values.model);
    const manifest = await readModelManifest(modelDir);
    const backbone = await resolveBackbone(values.backbone ?? manifest.backbone.name, backboneOptionsFrom(values));
    const scorer = await PadimScorer.load(
      manifest,
      { kernel: (opts) => readModelFolderKernel(modelDir, manifest, opts), tensors: async () => (await readModelFolder(modelDir)).tensors },
      backbone,
      runtime,
    );
    const output = new LocalBlobStore(out);
    const bar = progressBar();
    const rows: ScoreRow[] = [];
    try {
      while (!next.done) {
        const chunk = next.value;
        const before = rows.length;
        rows.push(
          ...(await scoreToStore(scorer, chunk.items, {
            output,
            prefix: '',
            read: chunk.read,
            heatmaps,
            batchSize: runtime.batchSize,
            onProgress: (e) => bar({ ...e, done: before + e.done, total: chunk.total }),
          })),
        );
        next = await chunks.next();
      }
    } finally {
      await scorer.release();
    }
    const { summary } = await writeScoringResults(output, '', rows, { category: manifest.category, threshold: manifest.thresholds.image });
    for (const e of summary.errors) process.stderr.write(`error ${e.file}: ${e.error}\n`);
    process.stdout.write(
      `scored ${summary.scored} images (${summary.anomalous} anomalous, ${summary.failed} failed); results in ${path.join(out, 'results.csv')}\n`,
    );
  } finally {
    await chunks.return(undefined);
  }
}
