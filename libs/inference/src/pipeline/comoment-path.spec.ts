import { describe, expect, it } from '@jest/globals';
import { DEFAULT_BATCH_SIZE, LARGE_MODEL_BATCH_SIZE, defaultBatchSize, defaultComomentPath, hostComomentPath } from './train-model';

describe('defaultComomentPath', () => {
  it('takes the float64 kernel on the CPU', () => {
    expect(defaultComomentPath()).toBe('float64');
    expect(defaultComomentPath('cpu')).toBe('float64');
    expect(hostComomentPath()).toBe('float64');
  });

  it('computes the statistics in the backbone graph when the backbone runs on CUDA', () => {
    expect(defaultComomentPath('cuda')).toBe('in-graph');
  });
});

describe('defaultBatchSize', () => {
  it('keeps batches of 8 up to 2 GB of accumulator and takes 4 from there', () => {
    // resnet18 d=100 and resnet50 d=300 at 256×256: 0.17 and 1.49 GB.
    expect(defaultBatchSize(4096, 100)).toBe(DEFAULT_BATCH_SIZE);
    expect(defaultBatchSize(4096, 300)).toBe(DEFAULT_BATCH_SIZE);
    // resnet50 d=550: 4.96 GB; d=100 on a 1024×1024 input (65,536 positions): 2.7 GB.
    expect(defaultBatchSize(4096, 550)).toBe(LARGE_MODEL_BATCH_SIZE);
    expect(defaultBatchSize(65536, 100)).toBe(LARGE_MODEL_BATCH_SIZE);
    // The boundary: 4096·(d + d(d+1)/2)·8 first reaches 2e9 at d=348.
    expect(defaultBatchSize(4096, 347)).toBe(DEFAULT_BATCH_SIZE);
    expect(defaultBatchSize(4096, 348)).toBe(LARGE_MODEL_BATCH_SIZE);
  });
});
