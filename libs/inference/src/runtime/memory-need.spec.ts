import { CENTRED_BLOCK_BYTES, gramMergeBytes } from '@padim-fleet/padim-core';
import { InsufficientMemoryError, assertMemoryFits, gramGroupBytes, memoryNeed, modelMemory, thresholdPassBytes } from './memory-need';

describe('memoryNeed', () => {
  it('counts the float64 accumulator and the float32 factors of P positions × d', () => {
    // resnet50 d=550 at 256×256: 4096 positions, T = 151,525.
    // The kernel pads L⁻¹ to blocks of four rows: 8·138·139 floats per position at d=550 (2.60 GB, measured).
    expect(modelMemory(4096, 550)).toEqual({
      accumulatorBytes: 4096 * (550 + 151_525) * 8,
      factorsBytes: 4096 * (550 + 151_525) * 4,
      kernelBytes: 4096 * (8 * 138 * 139 + 9 * 550) * 4,
      // Threshold scoring by blocks: a 256 MiB block of factors, a 256 MiB pass of embeddings and a batch over.
      thresholdScoringBytes: 2 * 256 * 2 ** 20 + 8 * 550 * 4096 * 4,
    });
    // A small model: the block is the whole kernel, and a pass holds no more than it.
    expect(modelMemory(1, 2)).toEqual({
      accumulatorBytes: (2 + 3) * 8,
      factorsBytes: (2 + 3) * 4,
      kernelBytes: (16 + 18) * 4,
      thresholdScoringBytes: 2 * (16 + 18) * 4 + 8 * 2 * 4,
    });
    expect(thresholdPassBytes(4096, 550)).toBe(256 * 2 ** 20);
    expect(thresholdPassBytes(4096, 100)).toBe(modelMemory(4096, 100).kernelBytes);
  });

  it('adds the threshold scoring to the accumulator when training and to the merge blocks and factors when reducing, the kernel and a block of factors streamed into it when scoring', () => {
    const input = { backbone: 'resnet50', positions: 4096, d: 550 };
    const { accumulatorBytes, factorsBytes, kernelBytes, thresholdScoringBytes } = modelMemory(4096, 550);
    const backbone = 1.3e9;
    expect(memoryNeed({ ...input, role: 'train' }).bytes).toBe(accumulatorBytes + thresholdScoringBytes + backbone);
    expect(memoryNeed({ ...input, role: 'extract' }).bytes).toBe(accumulatorBytes + backbone);
    expect(memoryNeed({ ...input, role: 'reduce', reduceBufferBytes: 512 * 1024 ** 2 }).bytes).toBe(
      512 * 1024 ** 2 + factorsBytes + thresholdScoringBytes + backbone,
    );
    expect(memoryNeed({ ...input, role: 'score' }).bytes).toBe(kernelBytes + Math.min(64 * 2 ** 20, factorsBytes / 8) + backbone);
    expect(memoryNeed({ ...input, role: 'train' }).parts).toBe(
      'resnet50 d=550, 4096 positions: accumulator 4.98 GB + threshold scoring 0.61 GB + resnet50 backbone and scratch 1.30 GB',
    );
    // A custom ONNX backbone is taken to need what resnet50 does.
    expect(memoryNeed({ ...input, role: 'score', backbone: 'mine' }).bytes).toBe(memoryNeed({ ...input, role: 'score' }).bytes);
  });

  it('adds the Gram group when training or extracting on the Gram path, the default at d=100 on the CPU', () => {
    const input = { backbone: 'resnet18', positions: 4096, d: 100 };
    const { accumulatorBytes, thresholdScoringBytes } = modelMemory(4096, 100);
    // 128 embeddings of 4096 × 100 float32 (210 MB), their float64 sums, one 8 MiB centred block and the
    // merge of one GEMM block: 34 positions' bands (7,500 floats), shifts (100) and co-moments (5,050).
    const group = 128 * 4096 * 100 * 4 + 4096 * 100 * 8 + CENTRED_BLOCK_BYTES + 34 * (7500 * 4 + 100 * 8 + 5050 * 8);
    expect(gramGroupBytes(4096, 100)).toBe(group);
    expect(memoryNeed({ ...input, role: 'train' }).bytes).toBe(accumulatorBytes + group + thresholdScoringBytes + 0.6e9);
    expect(memoryNeed({ ...input, role: 'extract' }).bytes).toBe(accumulatorBytes + group + 0.6e9);
    expect(memoryNeed({ ...input, role: 'extract' }).parts).toBe(
      'resnet18 d=100, 4096 positions: accumulator 0.17 GB + Gram group 0.22 GB + resnet18 backbone and scratch 0.60 GB',
    );
    // Asked for, or not: the float64 kernel's 16 embeddings are within the backbone's working memory.
    expect(memoryNeed({ ...input, role: 'extract', comoments: 'float64' }).bytes).toBe(accumulatorBytes + 0.6e9);
    expect(memoryNeed({ ...input, role: 'extract', comoments: 'in-graph' }).bytes).toBe(accumulatorBytes + 0.6e9);
    // On a GPU the default is the in-graph path: no group on the host.
    expect(memoryNeed({ ...input, role: 'extract', device: 'cuda' }).bytes).toBe(accumulatorBytes + 0.6e9);
    expect(memoryNeed({ ...input, role: 'extract', device: 'cuda', comoments: 'gram' }).bytes).toBe(accumulatorBytes + group + 0.6e9);
    // At d=550 the Gram path is not the default, but holds a group of 64 (577 MB) and its sums when asked for.
    const d550 = { backbone: 'resnet50', positions: 4096, d: 550, role: 'extract' as const };
    expect(memoryNeed({ ...d550, comoments: 'gram' }).bytes - memoryNeed(d550).bytes).toBe(
      64 * 4096 * 550 * 4 + 4096 * 550 * 8 + CENTRED_BLOCK_BYTES + gramMergeBytes(550, 4096),
    );
  });

  it('refuses a need above what is allowed, naming the job, the need and the setting', () => {
    const need = memoryNeed({ role: 'extract', backbone: 'resnet50', positions: 4096, d: 550 });
    expect(() => assertMemoryFits('training', need, need.bytes, "this machine's memory")).not.toThrow();
    expect(() => assertMemoryFits('run r1 shard 0', need, 4096 * 1024 ** 2, 'WORKER_MEMORY_MB=4096')).toThrow(InsufficientMemoryError);
    expect(() => assertMemoryFits('run r1 shard 0', need, 4096 * 1024 ** 2, 'WORKER_MEMORY_MB=4096')).toThrow(
      'run r1 shard 0 needs about 6.28 GB of memory (resnet50 d=550, 4096 positions: accumulator 4.98 GB + resnet50 backbone and scratch 1.30 GB), WORKER_MEMORY_MB=4096 allows 4.29 GB',
    );
  });
});
