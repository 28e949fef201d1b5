/**
 * npm run bench:train [-- --backbone resnet50] [--images 320] — on MVTec screw with resnet18, d=100
 * (resnet50: d=550), 256×256: backbone-only images/s, the full
 * training pipeline's images/s (decode + backbone + accumulate), their ratio, the CPU time per image of
 * each and the ratio of those (what the pipeline could reach with every core busy), the same with the
 * other host co-moment path in place of the default (the float64 kernel where the Gram path is the
 * default, as at d=100, and the Gram path where it is not, as at d=550), the peak RSS of a whole training run with
 * the training defaults on 32 and on 320 (--images) images (separate processes) and the larger of the two
 * (peakRssMB), the model's size on disk, and the cost of the other steps alone: decoding (warmed up, and
 * zlib's inflation within it), accumulating (the kernel and the Gram path in its group for this d,
 * alternating), finalising (threaded and on one thread); then the budget: the ratio a pipeline could
 * reach if decode and accumulation cost what they cost alone and nothing else cost anything, and the
 * pipeline's CPU per image beyond those; and the process's page faults per image in the backbone alone
 * and in the pipeline, with whether it runs with huge pages for malloc (PADIM_MALLOC_HUGE_PAGES=0 runs
 * it without). The backbone batch is the training default for the model's size (defaultBatchSize).
 * The last line is JSON.
 * `node apps/cli/dist/bench/bench-train.js --child 64 --backbone resnet50` runs one training alone and
 * prints its peak RSS, model size and seconds as JSON.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import {
  EmbeddingExtractor,
  accumulateImages,
  decodeImage,
  defaultBatchSize,
  finalizeInParallel,
  gramGroupImages,
  hostComomentPath,
  parsePngForFastPath,
  resolveBackbone,
  resolveEmbedding,
  trainModel,
  writeModelFolder,
} from '@padim-fleet/inference';
import { mallocHugePagesState } from '@padim-fleet/contracts';
import { finalizeGaussianFloat32 } from '@padim-fleet/padim-core';
import { benchAccumulateModes, median } from './bench-accumulate-modes';
import { backboneRate, measureStep, peakRssMB, round, runBench, runChild, screwTrainFiles } from './bench-common';

const SIZE = 256;
const inflate = promisify(zlib.inflate);

/** The value after `--name` on the command line, or `fallback`. */
function argument(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const BACKBONE = argument('backbone', 'resnet18');
const LARGE_IMAGES = Number(argument('images', '320'));
const DECODE_WARM_UP = 64;
const DECODE_IMAGES = 64;

/** CPU ms per image of zlib's inflation of the PNG stream alone (fast-path PNGs; 0 for none). */
async function inflateCpuMs(files: string[]): Promise<number> {
  const streams = (await Promise.all(files.map(async (f) => parsePngForFastPath(await fs.readFile(f))))).filter((p) => p !== null);
  if (streams.length === 0) return 0;
  const cpu0 = process.cpuUsage();
  // One output chunk of the whole image, as decodePngFast inflates it.
  for (const png of streams) await inflate(png.idat, { chunkSize: png.height * (1 + png.width * png.channels) + 1 });
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / 1000 / streams.length;
}

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
  // Where the pipeline's CPU goes besides the backbone, each measured alone: decoding (file read
  // included) once warmed up, as in the pipeline's steady state, and the inflation within it.
  // (The first few dozen images run slower while the wasm kernels tier up: 7.8 against 5.2 ms here.)
  for (const file of files.slice(0, DECODE_WARM_UP)) await decodeImage(file, { width: SIZE, height: SIZE });
  const decodeFiles = files.slice(DECODE_WARM_UP, DECODE_WARM_UP + DECODE_IMAGES);
  const cpu0 = process.cpuUsage();
  for (const file of decodeFiles) await decodeImage(file, { width: SIZE, height: SIZE });
  const cpu = process.cpuUsage(cpu0);
  const decodeCpuMsPerImage = (cpu.user + cpu.system) / 1000 / decodeFiles.length;
  const inflateCpuMsPerImage = await inflateCpuMs(decodeFiles);
  // The float64 co-moment kernel (groups of 16) against the Gram path (in the trainer's group for this d), interleaved.
  const accumulate = await benchAccumulateModes({ positions, dim: d, gramGroup: gramGroupImages(positions, d), repeats: 5 });
  const accumulateMsPerImage = median(accumulate.rounds.map((r) => r.kernelMsPerImage));
  const accumulateGramMsPerImage = median(accumulate.rounds.map((r) => r.gramMsPerImage));
  const defaultAccumulateMs = comoments === 'gram' ? accumulateGramMsPerImage : accumulateMsPerImage;
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
    inflateCpuMsPerImage: round(inflateCpuMsPerImage, 1),
    accumulateMsPerImage: round(accumulateMsPerImage, 2),
    accumulateGramMsPerImage: round(accumulateGramMsPerImage, 2),
    gramOverKernelTime: round(1 / accumulate.medianRatio, 2),
    gramOverKernelCpu: round(1 / accumulate.medianCpuRatio, 2),
    finalizeSeconds: round(finalizeSeconds, 2),
    finalizeOneThreadSeconds: round(finalizeOneThreadSeconds, 2),
    // The best ratio a pipeline of these steps could reach on this machine: backbone CPU over backbone,
    // decode and the default path's accumulation alone, with nothing else to pay for.
    budgetRatio: round(backboneOnly.cpuMsPerImage / (backboneOnly.cpuMsPerImage + decodeCpuMsPerImage + defaultAccumulateMs)),
    otherCpuMsPerImage: round(pipeline.cpuMsPerImage - backboneOnly.cpuMsPerImage - decodeCpuMsPerImage - defaultAccumulateMs, 1),
    backbonePageFaultsPerImage: Math.round(backboneOnly.pageFaultsPerImage),
    pipelinePageFaultsPerImage: Math.round(pipeline.pageFaultsPerImage),
    mallocHugePages: mallocHugePagesState(),
  };
  process.stdout.write(
    `backbone only   ${summary.backboneImagesPerSec} img/s (${summary.backboneCpuMsPerImage} ms CPU/image)\n` +
      `pipeline        ${summary.pipelineImagesPerSec} img/s (decode + backbone + accumulate on the ${comoments} path, ${summary.pipelineCpuMsPerImage} ms CPU/image), ratio ${summary.ratio}\n` +
      `cpu-bound ratio ${summary.cpuBoundRatio} (backbone CPU / pipeline CPU: the ratio with every core busy all the time)\n` +
      `${`${otherComoments} path`.padEnd(15)} pipeline ${summary.otherPipelineImagesPerSec} img/s (${summary.otherPipelineCpuMsPerImage} ms CPU/image), ratio ${summary.otherRatio}, cpu-bound ratio ${summary.otherCpuBoundRatio} (--accumulate ${otherComoments})\n` +
      `peak RSS        ${summary.rss32MB} MB for 32 images, ${summary.rss320MB} MB for ${LARGE_IMAGES}\nmodel           ${summary.modelMB} MB on disk\n` +
      `alone           decode ${summary.decodeCpuMsPerImage} ms CPU/image (zlib's inflation ${summary.inflateCpuMsPerImage}), accumulate ${summary.accumulateMsPerImage} ms/image on the float64 kernel (Gram path, groups of ${summary.gramGroup}: ${summary.accumulateGramMsPerImage}, median time ratio Gram/kernel ${summary.gramOverKernelTime}, ${summary.gramOverKernelCpu} in CPU time), finalise ${summary.finalizeSeconds} s (${summary.finalizeOneThreadSeconds} s on one thread)\n` +
      `budget          ratio ${summary.budgetRatio} at most: backbone / (backbone + decode + accumulate on the ${comoments} path), each alone; ` +
      `the pipeline's CPU beyond those three: ${summary.otherCpuMsPerImage} ms/image\n` +
      `page faults     ${summary.backbonePageFaultsPerImage} per image in the backbone alone, ${summary.pipelinePageFaultsPerImage} in the pipeline (malloc huge pages ${summary.mallocHugePages})\n`,
  );
  process.stdout.write(JSON.stringify(summary) + '\n');
}

const childIndex = process.argv.indexOf('--child');
runBench('bench:train', () => (childIndex >= 0 ? child(Number(process.argv[childIndex + 1])) : main()));
