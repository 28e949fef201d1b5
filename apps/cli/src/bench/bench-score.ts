/**
 * npm run bench:score — on MVTec screw's test split with a resnet18 d=100 model trained on screw:
 * backbone-only images/s, full scoring images/s (decode + backbone + Mahalanobis + upsample + blur),
 * and their ratio. The last line is JSON.
 */
import * as os from 'node:os';
import { PadimScorer, listMvtecTestSet, resolveBackbone, scoreImages, trainModel } from '@padim-fleet/inference';
import { backboneImagesPerSec, round, screwDir, screwTrainFiles } from './bench-common';

const BATCH = 8;

async function main(): Promise<void> {
  const backbone = await resolveBackbone('resnet18');
  const trained = await trainModel({ category: 'screw', files: await screwTrainFiles(), backbone, embedding: { d: 100, seed: 42 }, holdout: 0, skipThresholds: true, batchSize: BATCH });
  const scorer = await PadimScorer.create({ ...trained.manifest, tensors: undefined as never }, trained.tensors, backbone);
  const test = await listMvtecTestSet(screwDir());
  const backboneRate = await backboneImagesPerSec(scorer.extractor, test.slice(0, 64).map((t) => t.file), BATCH, scorer.side);
  const started = process.hrtime.bigint();
  const results = await scoreImages(scorer, test.map((t) => ({ file: t.file })), { batchSize: BATCH });
  const scoreRate = results.length / (Number(process.hrtime.bigint() - started) / 1e9);
  await scorer.release();
  const summary = {
    backbone: 'resnet18',
    d: 100,
    size: scorer.side,
    batch: BATCH,
    threads: os.availableParallelism(),
    images: results.length,
    backboneImagesPerSec: round(backboneRate, 2),
    scoreImagesPerSec: round(scoreRate, 2),
    ratio: round(scoreRate / backboneRate),
  };
  process.stdout.write(`backbone only   ${summary.backboneImagesPerSec} img/s\nscoring         ${summary.scoreImagesPerSec} img/s (decode + backbone + Mahalanobis + map), ratio ${summary.ratio}\n`);
  process.stdout.write(JSON.stringify(summary) + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench:score: ${(e as Error).stack}\n`);
  process.exit(1);
});
