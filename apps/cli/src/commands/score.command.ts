import * as path from 'node:path';
import { PadimScorer, readModelFolder, resolveBackbone } from '@padim-fleet/inference';
import { ScoreRow, scoreInputChunks, scoreToStore, writeScoringResults } from '@padim-fleet/fleet';
import { LocalBlobStore } from '@padim-fleet/storage';
import { parse, UsageError } from '../args';
import { RUNTIME_OPTIONS, backboneOptionsFrom, runtimeFrom } from '../common-options';
import { progressBar } from '../progress-bar';

export const SCORE_USAGE = `padim score --model <dir> [--out <dir>] [--no-heatmaps] [--backbone <file.onnx>] <image|dir|archive>...
  scores images, folders (recursively) and .zip/.tar/.tar.gz archives; writes <out>/results.csv,
  <out>/results.jsonl, <out>/summary.json and, per image, <out>/heatmaps/<name>.png and <out>/masks/<name>.png`;

export async function scoreCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parse(
    argv,
    { ...RUNTIME_OPTIONS, model: { type: 'string' }, out: { type: 'string' }, 'no-heatmaps': { type: 'boolean' }, backbone: { type: 'string' }, 'resnet18-dir': { type: 'string' }, 'cache-dir': { type: 'string' } },
    true,
  );
  if (!values.model || positionals.length === 0) throw new UsageError(`--model and at least one image, folder or archive are required\n${SCORE_USAGE}`);
  const out = path.resolve(values.out ?? 'padim-scores');
  const runtime = runtimeFrom(values);
  const heatmaps = !values['no-heatmaps'];
  // Listing the inputs and inspecting every archive comes first: a missing input or a hostile archive fails before the model loads or anything is written.
  const chunks = scoreInputChunks(positionals);
  try {
    let next = await chunks.next();
    if (next.done) throw new UsageError(`no images found in ${positionals.join(', ')}`);
    const { manifest, tensors } = await readModelFolder(path.resolve(values.model));
    const backbone = await resolveBackbone(values.backbone ?? manifest.backbone.name, backboneOptionsFrom(values));
    const scorer = await PadimScorer.create(manifest, tensors, backbone, runtime);
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
    process.stdout.write(`scored ${summary.scored} images (${summary.anomalous} anomalous, ${summary.failed} failed); results in ${path.join(out, 'results.csv')}\n`);
  } finally {
    await chunks.return(undefined);
  }
}
