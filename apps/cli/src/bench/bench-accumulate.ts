/**
 * npm run bench:accumulate -- [--dim 100] [--kernel-group 16] [--gram-group <the trainer's>] [--positions 4096] [--repeats 5]: the accumulation
 * step alone on random features of the extractor's shape, the float64 co-moment kernel against the float32
 * Gram path (onnxruntime MatMul), interleaved so that both see the same load. Prints ms per image of each
 * and their ratio per repetition; the last line is JSON.
 *
 * npm run bench:accumulate -- --gemm [--dim 100] [--groups 64,128,256] [--positions 4096] [--repeats 3]: the Gram path's
 * batched MatMul alone for each group size, alternating: median ms per image and GFLOP/s. The last line is JSON.
 *
 * npm run bench:accumulate -- --pipeline [--images 64] [--group 64] [--batch 8] [--size 256] [--d 100]: decode + backbone +
 * accumulation of screw train images (resnet18) on the CPU, the two-step path (embedding graph, then the
 * Gram path on the host) against the in-graph path (the group's means and co-moments computed in the
 * backbone's graph), each in its own process: images/s, CPU ms per image, bytes per image that reach the
 * host, peak RSS. The last line is JSON.
 */
import { benchAccumulateModes } from './bench-accumulate-modes';
import { benchPipelineAccumulate, measurePipelineAccumulate, pipelineLine } from './bench-accumulate-pipeline';
import { gramGroupImages } from '@padim-fleet/inference';
import { round, runBench } from './bench-common';
import { benchGramGemm } from './bench-gram-gemm';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

function pipelineOptions() {
  return { images: option('images', 64), size: option('size', 256), d: option('d', 100), batch: option('batch', 8), group: option('group', 64) };
}

async function main(): Promise<void> {
  const child = process.argv.indexOf('--pipeline-child');
  if (child >= 0) {
    const mode = process.argv[child + 1];
    if (mode !== 'gram' && mode !== 'in-graph') throw new Error(`--pipeline-child must be gram or in-graph, got ${mode}`);
    process.stdout.write(JSON.stringify(await measurePipelineAccumulate(mode, pipelineOptions())) + '\n');
    return;
  }
  if (process.argv.includes('--pipeline')) {
    const { twoStep, inGraph } = benchPipelineAccumulate(__filename, pipelineOptions());
    process.stdout.write(pipelineLine('two-step (Gram)', twoStep));
    process.stdout.write(pipelineLine('in-graph', inGraph));
    process.stdout.write(
      `in-graph / two-step: images/s ${round(inGraph.imagesPerSec / twoStep.imagesPerSec, 2)}, CPU per image ${round(inGraph.cpuMsPerImage / twoStep.cpuMsPerImage, 2)}, ` +
        `host bytes per image ${round(inGraph.hostBytesPerImage / twoStep.hostBytesPerImage, 2)}, peak RSS ${round(inGraph.peakRssMB / twoStep.peakRssMB, 2)}\n`,
    );
    process.stdout.write(JSON.stringify({ twoStep, inGraph }) + '\n');
    return;
  }
  const dim = option('dim', 100);
  const positions = option('positions', 4096);
  if (process.argv.includes('--gemm')) {
    const i = process.argv.indexOf('--groups');
    const groups = (i >= 0 ? process.argv[i + 1] : '64,128,256').split(',').map(Number);
    if (groups.some((B) => !Number.isInteger(B) || B < 1)) throw new Error(`--groups must be positive integers, got ${process.argv[i + 1]}`);
    const rates = await benchGramGemm({ dim, positions, groups, repeats: option('repeats', 3) });
    for (const r of rates) process.stdout.write(`d=${dim} B=${r.group}: GEMM ${round(r.msPerImage, 2)} ms/image, ${round(r.gflops, 1)} GFLOP/s\n`);
    process.stdout.write(JSON.stringify({ dim, positions, rates }) + '\n');
    return;
  }
  const result = await benchAccumulateModes({
    dim,
    kernelGroup: option('kernel-group', 16),
    gramGroup: option('gram-group', gramGroupImages(positions, dim)),
    positions,
    repeats: option('repeats', 5),
  });
  for (const r of result.rounds) {
    process.stdout.write(
      `float64 kernel ${round(r.kernelMsPerImage, 2)} ms/image (${round(r.kernelCpuMsPerImage, 2)} CPU), Gram ${round(r.gramMsPerImage, 2)} ms/image (${round(r.gramCpuMsPerImage, 2)} CPU), ratio ${round(r.kernelMsPerImage / r.gramMsPerImage, 2)} (${round(r.kernelCpuMsPerImage / r.gramCpuMsPerImage, 2)} CPU)\n`,
    );
  }
  process.stdout.write(`median ratio ${round(result.medianRatio, 2)} (${round(result.medianCpuRatio, 2)} CPU)\n`);
  process.stdout.write(JSON.stringify(result) + '\n');
}

runBench('bench:accumulate', main);
