/**
 * npm run bench:export — on MVTec screw's test split (160 images) with a resnet18 d=100 model trained on screw:
 * images/s of `padim score`'s in-process pipeline (PadimScorer: decode + backbone + Mahalanobis + map) and of the
 * exported standalone ONNX scorer (decode + one onnxruntime session), measured alternately in one process (the
 * better of two rounds each), and how far the exported graph's scores are from the scorer's. The last line is JSON.
 */
import * as os from 'node:os';
import * as ort from 'onnxruntime-node';
import {
  PadimScorer,
  ScoredImage,
  SCORER_IMAGE_INPUT,
  SCORER_SCORE_OUTPUT,
  buildScorerGraph,
  createOnnxSession,
  decodeImage,
  listMvtecTestSet,
  resolveBackbone,
  scoreImages,
  scorerInputOf,
  trainModel,
} from '@padim-fleet/inference';
import { StepRate, measureStep, round, screwDir, screwTrainFiles } from './bench-common';

const BATCH = 8;

async function main(): Promise<void> {
  const backbone = await resolveBackbone('resnet18');
  const trained = await trainModel({ category: 'screw', files: await screwTrainFiles(), backbone, embedding: { d: 100, seed: 42 }, batchSize: BATCH });
  const manifest = { ...trained.manifest, tensors: undefined as never };
  const files = (await listMvtecTestSet(screwDir())).map((t) => t.file);
  const scorer = await PadimScorer.create(manifest, trained.tensors, backbone);
  const graph = buildScorerGraph(manifest, trained.tensors, backbone);
  const session = await createOnnxSession(graph);
  const side = scorer.side;

  let scorerResults: ScoredImage<{ file: string }>[] = [];
  const runScorer = () =>
    measureStep(
      () => scorerResults.length,
      async () =>
        (scorerResults = await scoreImages(
          scorer,
          files.map((file) => ({ file })),
          { batchSize: BATCH },
        )),
    );
  const onnxScores: number[] = [];
  // The next batch decodes while onnxruntime runs this one, as scoreImages overlaps them.
  const decodeBatch = (start: number) =>
    Promise.all(files.slice(start, start + BATCH).map((f) => decodeImage(f, { width: manifest.input.size, height: manifest.input.size })));
  const runOnnx = () =>
    measureStep(
      () => onnxScores.length,
      async () => {
        onnxScores.length = 0;
        let decoding = decodeBatch(0);
        for (let start = 0; start < files.length; start += BATCH) {
          const pixels = await decoding;
          if (start + BATCH < files.length) decoding = decodeBatch(start + BATCH);
          const out = await session.run({ [SCORER_IMAGE_INPUT]: new ort.Tensor('float32', scorerInputOf(pixels, side), [pixels.length, 3, side, side]) });
          onnxScores.push(...(out[SCORER_SCORE_OUTPUT].data as Float32Array));
        }
      },
    );
  const best = (a: StepRate, b: StepRate) => (a.imagesPerSec >= b.imagesPerSec ? a : b);
  const onnxFirst = await runOnnx();
  const scorerFirst = await runScorer();
  const onnx = best(onnxFirst, await runOnnx());
  const inProcess = best(scorerFirst, await runScorer());
  await scorer.release();
  await session.release();

  let worst = 0;
  scorerResults.forEach((r, i) => (worst = Math.max(worst, Math.abs(onnxScores[i] - r.score!) / r.score!)));
  const summary = {
    backbone: 'resnet18',
    d: 100,
    size: side,
    batch: BATCH,
    threads: os.availableParallelism(),
    images: files.length,
    onnxMiB: round(graph.length / 2 ** 20, 1),
    scoreImagesPerSec: round(inProcess.imagesPerSec, 2),
    onnxScorerImagesPerSec: round(onnx.imagesPerSec, 2),
    scoreCpuMsPerImage: round(inProcess.cpuMsPerImage, 1),
    onnxScorerCpuMsPerImage: round(onnx.cpuMsPerImage, 1),
    maxScoreRelativeDifference: Number(worst.toExponential(2)),
  };
  process.stdout.write(
    `padim score (in process)  ${summary.scoreImagesPerSec} img/s, ${summary.scoreCpuMsPerImage} ms CPU/image\n` +
      `exported ONNX scorer      ${summary.onnxScorerImagesPerSec} img/s, ${summary.onnxScorerCpuMsPerImage} ms CPU/image (${summary.onnxMiB} MiB graph)\n` +
      `scores agree within       ${summary.maxScoreRelativeDifference} relative (${files.length} images)\n`,
  );
  process.stdout.write(JSON.stringify(summary) + '\n');
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
