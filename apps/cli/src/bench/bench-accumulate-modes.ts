import { createGramSession, defaultBatchSize } from '@padim-fleet/inference';
import { accumulateEmbeddingGroup, createGaussianAccumulator, createResidentGaussianAccumulator, GramGroup } from '@padim-fleet/padim-core';

export interface AccumulateModesResult {
  dim: number;
  positions: number;
  /** Images per pass of the float64 kernel (the pipeline's group before the Gram path). */
  kernelGroup: number;
  /** Images per pass of the Gram path (the pipeline's group now). */
  gramGroup: number;
  /**
   * One entry per repetition, each path measured back to back: wall time, and the process's CPU time
   * (both paths run on this thread), which a machine loaded by others inflates less.
   */
  rounds: { kernelMsPerImage: number; gramMsPerImage: number; kernelCpuMsPerImage: number; gramCpuMsPerImage: number }[];
  /** Median over the rounds of kernel time / Gram time: wall, then CPU. */
  medianRatio: number;
  medianCpuRatio: number;
}

/**
 * The accumulation step alone, the float64 co-moment kernel and the float32 Gram path in turn, each with
 * its own group size, on random features (uniform in [0, 1), as post-ReLU features are non-negative),
 * after one warm-up each.
 */
export async function benchAccumulateModes({
  dim = 100,
  kernelGroup = 16,
  gramGroup = 64,
  positions = 4096,
  repeats = 5,
} = {}): Promise<AccumulateModesResult> {
  const data = new Float32Array(Math.max(kernelGroup, gramGroup) * dim * positions);
  let state = 12345;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    data[i] = state / 4294967296;
  }
  const kernelBatch = [{ data: data.subarray(0, kernelGroup * dim * positions), n: kernelGroup }];
  const gramBatch = data.subarray(0, gramGroup * dim * positions);
  const kernelAcc = createResidentGaussianAccumulator(positions, dim);
  const gramAcc = createGaussianAccumulator(positions, dim);
  const session = await createGramSession(dim);
  // As training keeps it: one group for every pass, its samples copied in a backbone batch at a time
  // (each batch summed while it is still in cache), then merged.
  const group = new GramGroup(positions, dim, gramGroup);
  const batch = defaultBatchSize(positions, dim);
  const sample = dim * positions;
  const gramPass = async () => {
    for (let i = 0; i < gramGroup; i += batch) {
      const n = Math.min(batch, gramGroup - i);
      group.add(gramBatch.subarray(i * sample, (i + n) * sample), n);
    }
    await group.mergeInto(gramAcc, session.gram);
  };
  try {
    accumulateEmbeddingGroup(kernelAcc, kernelBatch);
    await gramPass();
    const rounds: AccumulateModesResult['rounds'] = [];
    for (let r = 0; r < repeats; r++) {
      let t = performance.now();
      let cpu = process.cpuUsage();
      accumulateEmbeddingGroup(kernelAcc, kernelBatch);
      const kernelCpuMsPerImage = cpuMs(process.cpuUsage(cpu)) / kernelGroup;
      const kernelMsPerImage = (performance.now() - t) / kernelGroup;
      t = performance.now();
      cpu = process.cpuUsage();
      await gramPass();
      const gramCpuMsPerImage = cpuMs(process.cpuUsage(cpu)) / gramGroup;
      const gramMsPerImage = (performance.now() - t) / gramGroup;
      rounds.push({ kernelMsPerImage, gramMsPerImage, kernelCpuMsPerImage, gramCpuMsPerImage });
    }
    return {
      dim,
      positions,
      kernelGroup,
      gramGroup,
      rounds,
      medianRatio: median(rounds.map((r) => r.kernelMsPerImage / r.gramMsPerImage)),
      medianCpuRatio: median(rounds.map((r) => r.kernelCpuMsPerImage / r.gramCpuMsPerImage)),
    };
  } finally {
    await session.release();
  }
}

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}

export function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}
