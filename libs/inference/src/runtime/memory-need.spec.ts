import { InsufficientMemoryError, assertMemoryFits, memoryNeed, modelMemory } from './memory-need';

describe('memoryNeed', () => {
  it('counts the float64 accumulator and the float32 factors of P positions × d', () => {
    // resnet50 d=550 at 256×256: 4096 positions, T = 151,525.
    expect(modelMemory(4096, 550)).toEqual({ accumulatorBytes: 4096 * (550 + 151_525) * 8, factorsBytes: 4096 * (550 + 151_525) * 4 });
    expect(modelMemory(1, 2)).toEqual({ accumulatorBytes: (2 + 3) * 8, factorsBytes: (2 + 3) * 4 });
  });

  it('holds the accumulator when training or extracting, the factors and merge blocks when reducing, the factors when scoring', () => {
    const input = { backbone: 'resnet50', positions: 4096, d: 550 };
    const train = memoryNeed({ ...input, role: 'train' });
    const reduce = memoryNeed({ ...input, role: 'reduce', reduceBufferBytes: 512 * 1024 ** 2 });
    const score = memoryNeed({ ...input, role: 'score' });
    expect(memoryNeed({ ...input, role: 'extract' })).toEqual(train);
    expect(train.bytes - score.bytes).toBe(4096 * (550 + 151_525) * 4);
    expect(reduce.bytes - score.bytes).toBe(512 * 1024 ** 2);
    expect(train.parts).toBe('resnet50 d=550, 4096 positions: accumulator 4.98 GB + resnet50 backbone and scratch 1.30 GB');
    expect(reduce.parts).toMatch(/factors 2\.49 GB \+ merge blocks 0\.54 GB \+ resnet50 backbone/);
    // A custom ONNX backbone is taken to need what resnet50 does.
    expect(memoryNeed({ ...input, role: 'score', backbone: 'mine' }).bytes).toBe(score.bytes);
  });

  it('refuses a need above what is allowed, naming the job, the need and the setting', () => {
    const need = memoryNeed({ role: 'train', backbone: 'resnet50', positions: 4096, d: 550 });
    expect(() => assertMemoryFits('training', need, need.bytes, "this machine's memory")).not.toThrow();
    expect(() => assertMemoryFits('run r1 shard 0', need, 4096 * 1024 ** 2, 'WORKER_MEMORY_MB=4096')).toThrow(InsufficientMemoryError);
    expect(() => assertMemoryFits('run r1 shard 0', need, 4096 * 1024 ** 2, 'WORKER_MEMORY_MB=4096')).toThrow(
      'run r1 shard 0 needs about 6.28 GB of memory (resnet50 d=550, 4096 positions: accumulator 4.98 GB + resnet50 backbone and scratch 1.30 GB), WORKER_MEMORY_MB=4096 allows 4.29 GB',
    );
  });
});
