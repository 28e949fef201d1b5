import { describe, expect, it } from '@jest/globals';
import { defaultComomentPath, gramGroupImages, hostComomentPath } from './comoment-path';
import { DEFAULT_BATCH_SIZE, LARGE_MODEL_BATCH_SIZE, defaultBatchSize } from './train-model';

describe('gramGroupImages', () => {
  it('holds 128 embeddings where 256 MiB takes them, 64 otherwise', () => {
    // 4096 positions (256×256): d=100 is 1.64 MB an image; d=550 is 9.0 MB.
    expect(gramGroupImages(4096, 100)).toBe(128);
    expect(gramGroupImages(4096, 550)).toBe(64);
    expect(gramGroupImages(4096, 300)).toBe(64);
    // Small embeddings stop at 128 (rounding grows with the group).
    expect(gramGroupImages(4096, 32)).toBe(128);
    expect(gramGroupImages(1024, 100)).toBe(128);
    // 2 MiB per image at d=128 on 4096 positions: 128 fit exactly; at d=129 they do not.
    expect(gramGroupImages(4096, 128)).toBe(128);
    expect(gramGroupImages(4096, 129)).toBe(64);
  });
});

describe('defaultComomentPath', () => {
  it('takes the Gram path on the CPU where its group holds 128 images or more, the float64 kernel elsewhere', () => {
    expect(defaultComomentPath(4096, 100)).toBe('gram');
    expect(defaultComomentPath(4096, 100, 'cpu')).toBe('gram');
    expect(hostComomentPath(4096, 128)).toBe('gram');
    expect(hostComomentPath(4096, 129)).toBe('float64');
    expect(hostComomentPath(4096, 550)).toBe('float64');
    // d=100 on a 1024×1024 input (65,536 positions, 26 MB an image): a group of 64.
    expect(hostComomentPath(65536, 100)).toBe('float64');
  });

  it('computes the statistics in the backbone graph when the backbone runs on CUDA', () => {
    expect(defaultComomentPath(4096, 100, 'cuda')).toBe('in-graph');
    expect(defaultComomentPath(4096, 550, 'cuda')).toBe('in-graph');
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
