/**
 * npm run bench:train [-- --backbone resnet50] [--images 320] — on MVTec screw with resnet18, d=100
 * (resnet50: d=550), 256×256: backbone-only images/s, the full
 * training pipeline's images/s (decode + backbone + accumulate), their ratio, the CPU time per image of
 * each and the ratio of those (what the pipeline could reach with every core busy), the same with the
 * Gram path in place of the default float64 co-moment kernel, the peak RSS of a whole training run with
 * the training defaults on 32 and on 320 (--images) images (separate processes) and the larger of the two
 * (peakRssMB), the model's size on disk, and the cost of the other steps alone: decoding, accumulating
 * (the kernel and the Gram path, alternating), finalising (threaded and on one thread). The backbone
 * batch is the training default for the model's size (defaultBatchSize). The last line is JSON.
 * `node apps/cli/dist/bench/bench-train.js --child 64 --backbone resnet50` runs one training alone and
 * prints its peak RSS, model size and seconds as JSON.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  EmbeddingExtractor,
  accumulateImages,
  decodeImage,
  defaultBatchSize,
  finalizeInParallel,
  resolveBackbone,
  resolveEmbedding,
  trainModel,
  writeModelFolder,
} from '@padim-fleet/inference';
import { finalizeGaussianFloat32 } from '@padim-fleet/padim-core';
import { benchAccumulateModes, median } from './bench-accumulate-modes';
import { backboneRate, measureStep, peakRssMB, round, runChild, screwTrainFiles } from './bench-common';

const SIZE = 256;

/** The value after `--name` on the command line, or `fallback`. */
function argument(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const BACKBONE = argument('backbone', 'resnet18');
const LARGE_IMAGES = Number(argument('images', '320'));

async function child(images: number): Promise<void> {
  const backbone = await resolveBackbone(BACKBONE);
  const files = (await screwTrainFiles()).slice(0, images);
  const trained = await trainModel({ category: 'screw', files, backbone, embedding: { d: backbone.defaultD, seed: 42 }, holdout: 0.1 });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'padim-bench-'));
  await writeModelFolder(path.join(dir, 'model'), trained.manifest, trained.tensors);
  let bytes = 0;
  for (const f of await fs.readdir(path.join(dir, 'model'))) bytes += (await fs.stat(path.join(dir, 'model', f))).size;
  await fs.rm(dir, { recursive: true, force: true });
  process.stdout.write(JSON.stringify({ peakRssMB: peakRssMB(), modelMB: bytes / 1e6, seconds: trained.manifest.training.seconds }) + '\n');
}

async function main(): Promise<void> {
  if (!Number.isInteger(LARGE_IMAGES) || LARGE_IMAGES < 2) throw new Error(`--images must be an integer >= 2, got ${argument('images', '')}`);
  const backbone = await resolveBackbone(BACKBONE);
  const d = backbone.defaultD;
  const files = await screwTrainFiles();
  const extractor = await EmbeddingExtractor.create(backbone, resolveEmbedding(backbone, { d, seed: 42 }), SIZE);
  const batch = defaultBatchSize(extractor.grid.height * extractor.grid.width, d);
  const backboneOnly = await backboneRate(extractor, files.slice(0, 64), batch, SIZE);
  let result!: Awaited<ReturnType<typeof accumulateImages>>;
  const pipeline = await measureStep(
    () => result.used.length,
    async () => (result = await accumulateImages(files, extractor, { size: SIZE, batchSize: batch })),
  );
  // The same pipeline through the Gram path, to compare the two in one run.
  let gramResult!: Awaited<ReturnType<typeof accumulateImages>>;
  const pipelineGram = await measureStep(
    () => gramResult.used.length,
    async () => (gramResult = await accumulateImages(files, extractor, { size: SIZE, batchSize: batch, comoments: 'gram' })),
  );
  gramResult = undefined as never;
  await extractor.release();
  // Where the pipeline's CPU goes besides the backbone, each measured alone.
  const cpu0 = process.cpuUsage();
  for (const file of files.slice(0, 32)) await decodeImage(file, { width: SIZE, height: SIZE });
  const cpu = process.cpuUsage(cpu0);
  const decodeCpuMsPerImage = (cpu.user + cpu.system) / 1000 / 32;
  // The float64 co-moment kernel (groups of 16, the default) against the Gram path (groups of 64), interleaved.
  const accumulate = await benchAccumulateModes({ positions: result.accumulator.positions, dim: d, repeats: 5 });
  const accumulateMsPerImage = median(accumulate.rounds.map((r) => r.kernelMsPerImage));
  const accumulateGramMsPerImage = median(accumulate.rounds.map((r) => r.gramMsPerImage));
  let t = Date.now();
  finalizeGaussianFloat32(result.accumulator);
  const finalizeOneThreadSeconds = (Date.now() - t) / 1000;
  t = Date.now();
  await finalizeInParallel(result.accumulator);
  const finalizeSeconds = (Date.now() - t) / 1000;
  // Let go of this process's accumulator (5 GB for resnet50 d=550) before the children train their own.
  result = undefined as never;
  const small = runChild(__filename, ['--child', '32', '--backbone', BACKBONE]);
  const large = runChild(__filename, ['--child', String(LARGE_IMAGES), '--backbone', BACKBONE]);
  const summary = {
    backbone: BACKBONE,
    d,
    size: SIZE,
    batch,
    threads: os.availableParallelism(),
    backboneImagesPerSec: round(backboneOnly.imagesPerSec, 2),
    pipelineImagesPerSec: round(pipeline.imagesPerSec, 2),
    ratio: round(pipeline.imagesPerSec / backboneOnly.imagesPerSec),
    backboneCpuMsPerImage: round(backboneOnly.cpuMsPerImage, 1),
    pipelineCpuMsPerImage: round(pipeline.cpuMsPerImage, 1),
    cpuBoundRatio: round(backboneOnly.cpuMsPerImage / pipeline.cpuMsPerImage),
    gramPipelineImagesPerSec: round(pipelineGram.imagesPerSec, 2),
    gramRatio: round(pipelineGram.imagesPerSec / backboneOnly.imagesPerSec),
    gramPipelineCpuMsPerImage: round(pipelineGram.cpuMsPerImage, 1),
    gramCpuBoundRatio: round(backboneOnly.cpuMsPerImage / pipelineGram.cpuMsPerImage),
    rss32MB: round(small.peakRssMB, 1),
    rss320MB: round(large.peakRssMB, 1),
    peakRssMB: round(Math.max(small.peakRssMB, large.peakRssMB), 1),
    rssGrowth: round(large.peakRssMB / small.peakRssMB - 1),
    modelMB: round(large.modelMB, 1),
    train320Seconds: round(large.seconds, 1),
    decodeCpuMsPerImage: round(decodeCpuMsPerImage, 1),
    accumulateMsPerImage: round(accumulateMsPerImage, 2),
    accumulateGramMsPerImage: round(accumulateGramMsPerImage, 2),
    gramOverKernelTime: round(1 / accumulate.medianRatio, 2),
    gramOverKernelCpu: round(1 / accumulate.medianCpuRatio, 2),
    finalizeSeconds: round(finalizeSeconds, 2),
    finalizeOneThreadSeconds: round(finalizeOneThreadSeconds, 2),
  };
  process.stdout.write(
    `backbone only   ${summary.backboneImagesPerSec} img/s (${summary.backboneCpuMsPerImage} ms CPU/image)\n` +
      `pipeline        ${summary.pipelineImagesPerSec} img/s (decode + backbone + accumulate, ${summary.pipelineCpuMsPerImage} ms CPU/image), ratio ${summary.ratio}\n` +
      `cpu-bound ratio ${summary.cpuBoundRatio} (backbone CPU / pipeline CPU: the ratio with every core busy all the time)\n` +
      `Gram path       pipeline ${summary.gramPipelineImagesPerSec} img/s (${summary.gramPipelineCpuMsPerImage} ms CPU/image), ratio ${summary.gramRatio}, cpu-bound ratio ${summary.gramCpuBoundRatio} (--accumulate gram)\n` +
      `peak RSS        ${summary.rss32MB} MB for 32 images, ${summary.rss320MB} MB for ${LARGE_IMAGES}\nmodel           ${summary.modelMB} MB on disk\n` +
      `alone           decode ${summary.decodeCpuMsPerImage} ms CPU/image, accumulate ${summary.accumulateMsPerImage} ms/image (Gram path: ${summary.accumulateGramMsPerImage}, median time ratio Gram/kernel ${summary.gramOverKernelTime}, ${summary.gramOverKernelCpu} in CPU time), finalise ${summary.finalizeSeconds} s (${summary.finalizeOneThreadSeconds} s on one thread)\n`,
  );
  process.stdout.write(JSON.stringify(summary) + '\n');
}

const childIndex = process.argv.indexOf('--child');
(childIndex >= 0 ? child(Number(process.argv[childIndex + 1])) : main()).catch((e) => {
  process.stderr.write(`bench:train: ${(e as Error).stack}\n`);
  process.exit(1);
});
