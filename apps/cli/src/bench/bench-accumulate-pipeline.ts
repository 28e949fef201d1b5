import { EmbeddingExtractor, accumulateImages, resolveBackbone, resolveEmbedding, type ComomentPath } from '@padim-fleet/inference';
import { measureStep, peakRssMB, round, runChild, screwTrainFiles } from './bench-common';

/** What one accumulation path measured, alone in its own process. */
export interface PipelineAccumulateRate {
  comoments: ComomentPath;
  /** Images per backbone run: the batch of the two-step path, the group of the in-graph path. */
  imagesPerRun: number;
  imagesPerSec: number;
  cpuMsPerImage: number;
  /** Bytes per image that leave the backbone's session for the host: the embeddings, or the group's means and co-moments. */
  hostBytesPerImage: number;
  peakRssMB: number;
}

export interface PipelineAccumulateOptions {
  images: number;
  size: number;
  d: number;
  /** Backbone batch of the two-step path. */
  batch: number;
  /** Group (one backbone run) of the in-graph path. */
  group: number;
}

/**
 * Decode + backbone + accumulation of screw's first `images` train images (resnet18) into a float64
 * accumulator, through one path: 'gram' is the two-step path (embedding graph, then centring and Gram
 * on the host in groups of 64), 'in-graph' the fused graph. After a warm-up run of one batch or group.
 */
export async function measurePipelineAccumulate(comoments: 'gram' | 'in-graph', opts: PipelineAccumulateOptions): Promise<PipelineAccumulateRate> {
  const backbone = await resolveBackbone('resnet18');
  const files = (await screwTrainFiles()).slice(0, opts.images);
  if (files.length < opts.images) throw new Error(`screw has ${files.length} train images, ${opts.images} asked for`);
  const extractor = await EmbeddingExtractor.create(backbone, resolveEmbedding(backbone, { d: opts.d, seed: 42 }), opts.size);
  const P = extractor.grid.height * extractor.grid.width;
  const imagesPerRun = comoments === 'in-graph' ? opts.group : opts.batch;
  const input = { size: opts.size, batchSize: opts.batch, groupImages: opts.group, comoments };
  try {
    await accumulateImages(files.slice(0, imagesPerRun), extractor, input);
    let hostBytes = 0;
    let images = 0;
    const rate = await measureStep(
      () => images,
      async () => {
        const result = await accumulateImages(files, extractor, {
          ...input,
          onGroup: (g) => void (hostBytes += g.mean.byteLength + g.comoment.byteLength),
        });
        images = result.accumulator.count;
      },
    );
    // The two-step path takes each image's d×P float32 embeddings off the backbone's session.
    const hostBytesPerImage = comoments === 'in-graph' ? hostBytes / images : opts.d * P * 4;
    return { comoments, imagesPerRun, ...rate, hostBytesPerImage, peakRssMB: peakRssMB() };
  } finally {
    await extractor.release();
  }
}

/** Both paths, each in a child process of `script` (so that each one's peak RSS is its own), two-step first. */
export function benchPipelineAccumulate(script: string, opts: PipelineAccumulateOptions): { twoStep: PipelineAccumulateRate; inGraph: PipelineAccumulateRate } {
  const args = (mode: string) => ['--pipeline-child', mode, ...Object.entries(opts).flatMap(([k, v]) => [`--${k}`, String(v)])];
  const twoStep = runChild(script, args('gram')) as unknown as PipelineAccumulateRate;
  const inGraph = runChild(script, args('in-graph')) as unknown as PipelineAccumulateRate;
  return { twoStep, inGraph };
}

export function pipelineLine(label: string, r: PipelineAccumulateRate): string {
  return (
    `${label.padEnd(22)} ${String(round(r.imagesPerSec, 2)).padStart(7)} images/s  ${String(round(r.cpuMsPerImage, 1)).padStart(7)} CPU ms/image  ` +
    `${String(round(r.hostBytesPerImage / 2 ** 20, 2)).padStart(6)} MiB to the host per image  peak RSS ${Math.round(r.peakRssMB)} MB  (${r.imagesPerRun} images per run)\n`
  );
}
