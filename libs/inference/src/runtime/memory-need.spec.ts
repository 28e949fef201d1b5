import { InsufficientMemoryError, assertMemoryFits, memoryNeed, modelMemory, thresholdPassBytes } from './memory-need';

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

  it('refuses a need above what is allowed, naming the job, the need and the setting', () => {
    const need = memoryNeed({ role: 'extract', backbone: 'resnet50', positions: 4096, d: 550 });
    expect(() => assertMemoryFits('training', need, need.bytes, "this machine's memory")).not.toThrow();
    expect(() => assertMemoryFits('run r1 shard 0', need, 4096 * 1024 ** 2, 'WORKER_MEMORY_MB=4096')).toThrow(InsufficientMemoryError);
    expect(() => assertMemoryFits('run r1 shard 0', need, 4096 * 1024 ** 2, 'WORKER_MEMORY_MB=4096')).toThrow(
      'run r1 shard 0 needs about 6.28 GB of memory (resnet50 d=550, 4096 positions: accumulator 4.98 GB + resnet50 backbone and scratch 1.30 GB), WORKER_MEMORY_MB=4096 allows 4.29 GB',
    );
  });
});
