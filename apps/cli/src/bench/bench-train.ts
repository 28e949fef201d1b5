/**
 * npm run bench:train [-- --backbone resnet50] [--images 320] — on MVTec screw with resnet18, d=100
 * (resnet50: d=550), 256×256: backbone-only images/s, the full
 * training pipeline's images/s (decode + backbone + accumulate), their ratio, the CPU time per image of
 * each and the ratio of those (what the pipeline could reach with every core busy), the same with the
 * other host co-moment path in place of the default (the float64 kernel where the Gram path is the
 * default, as at d=100, and the Gram path where it is not, as at d=550), the peak RSS of a whole training run with
 * the training defaults on 32 and on 320 (--images) images (separate processes) and the larger of the two
 * (peakRssMB), the model's size on disk, and the cost of the other steps alone: decoding, accumulating
 * (the kernel and the Gram path in its group for this d, alternating), finalising (threaded and on one thread). The backbone
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
  gramGroupImages,
  hostComomentPath,
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
  const positions = extractor.grid.height * extractor.grid.width;
  const batch = defaultBatchSize(positions, d);
  const comoments = hostComomentPath(positions, d);
  const otherComoments = comoments === 'gram' ? 'float64' : 'gram';
  const backboneOnly = await backboneRate(extractor, files.slice(0, 64), batch, SIZE);
  let result!: Awaited<ReturnType<typeof accumulateImages>>;
  const pipeline = await measureStep(
    () => result.used.length,
    async () => (result = await accumulateImages(files, extractor, { size: SIZE, batchSize: batch })),
  );
  // The same pipeline through the other host path, to compare the two in one run.
  let otherResult!: Awaited<ReturnType<typeof accumulateImages>>;
  const pipelineOther = await measureStep(
    () => otherResult.used.length,
    async () => (otherResult = await accumulateImages(files, extractor, { size: SIZE, batchSize: batch, comoments: otherComoments })),
  );
  otherResult = undefined as never;
  await extractor.release();
  // Where the pipeline's CPU goes besides the backbone, each measured alone.
  const cpu0 = process.cpuUsage();
  for (const file of files.slice(0, 32)) await decodeImage(file, { width: SIZE, height: SIZE });
  const cpu = process.cpuUsage(cpu0);
  const decodeCpuMsPerImage = (cpu.user + cpu.system) / 1000 / 32;
  // The float64 co-moment kernel (groups of 16) against the Gram path (in the trainer's group for this d), interleaved.
  const accumulate = await benchAccumulateModes({ positions, dim: d, gramGroup: gramGroupImages(positions, d), repeats: 5 });
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
    comoments,
    gramGroup: gramGroupImages(positions, d),
    backboneImagesPerSec: round(backboneOnly.imagesPerSec, 2),
    pipelineImagesPerSec: round(pipeline.imagesPerSec, 2),
    ratio: round(pipeline.imagesPerSec / backboneOnly.imagesPerSec),
    backboneCpuMsPerImage: round(backboneOnly.cpuMsPerImage, 1),
    pipelineCpuMsPerImage: round(pipeline.cpuMsPerImage, 1),
    cpuBoundRatio: round(backboneOnly.cpuMsPerImage / pipeline.cpuMsPerImage),
    otherComoments,
    otherPipelineImagesPerSec: round(pipelineOther.imagesPerSec, 2),
    otherRatio: round(pipelineOther.imagesPerSec / backboneOnly.imagesPerSec),
    otherPipelineCpuMsPerImage: round(pipelineOther.cpuMsPerImage, 1),
    otherCpuBoundRatio: round(backboneOnly.cpuMsPerImage / pipelineOther.cpuMsPerImage),
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
      `pipeline        ${summary.pipelineImagesPerSec} img/s (decode + backbone + accumulate on the ${comoments} path, ${summary.pipelineCpuMsPerImage} ms CPU/image), ratio ${summary.ratio}\n` +
      `cpu-bound ratio ${summary.cpuBoundRatio} (backbone CPU / pipeline CPU: the ratio with every core busy all the time)\n` +
      `${`${otherComoments} path`.padEnd(15)} pipeline ${summary.otherPipelineImagesPerSec} img/s (${summary.otherPipelineCpuMsPerImage} ms CPU/image), ratio ${summary.otherRatio}, cpu-bound ratio ${summary.otherCpuBoundRatio} (--accumulate ${otherComoments})\n` +
      `peak RSS        ${summary.rss32MB} MB for 32 images, ${summary.rss320MB} MB for ${LARGE_IMAGES}\nmodel           ${summary.modelMB} MB on disk\n` +
      `alone           decode ${summary.decodeCpuMsPerImage} ms CPU/image, accumulate ${summary.accumulateMsPerImage} ms/image on the float64 kernel (Gram path, groups of ${summary.gramGroup}: ${summary.accumulateGramMsPerImage}, median time ratio Gram/kernel ${summary.gramOverKernelTime}, ${summary.gramOverKernelCpu} in CPU time), finalise ${summary.finalizeSeconds} s (${summary.finalizeOneThreadSeconds} s on one thread)\n`,
  );
  process.stdout.write(JSON.stringify(summary) + '\n');
}

const childIndex = process.argv.indexOf('--child');
(childIndex >= 0 ? child(Number(process.argv[childIndex + 1])) : main()).catch((e) => {
  process.stderr.write(`bench:train: ${(e as Error).stack}\n`);
  process.exit(1);
});
