/**
 * npm run bench:accumulate -- [--dim 100] [--kernel-group 16] [--gram-group 64] [--positions 4096] [--repeats 5]: the accumulation
 * step alone on random features of the extractor's shape, the float64 co-moment kernel against the float32
 * Gram path (onnxruntime MatMul), interleaved so that both see the same load. Prints ms per image of each
 * and their ratio per repetition; the last line is JSON.
 */
import { benchAccumulateModes } from './bench-accumulate-modes';
import { round } from './bench-common';

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const result = await benchAccumulateModes({
    dim: option('dim', 100),
    kernelGroup: option('kernel-group', 16),
    gramGroup: option('gram-group', 64),
    positions: option('positions', 4096),
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

main().catch((e) => {
  process.stderr.write(`bench:accumulate: ${(e as Error).stack}\n`);
  process.exit(1);
});
