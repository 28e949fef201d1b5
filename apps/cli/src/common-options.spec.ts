import { resnet50Spec } from '@padim-fleet/inference';
import { checkTrainingMemory } from './common-options';

describe('checkTrainingMemory', () => {
  // Only the spec is read: the positions come from its stride, d from the backbone's default.
  const resnet50 = { spec: resnet50Spec, onnx: new Uint8Array(0), onnxSha256: '', defaultD: 550 };

  it('refuses up front a training the machine cannot hold, naming the need and the memory', () => {
    expect(() => checkTrainingMemory(resnet50, {}, { totalBytes: 4e9, freeBytes: 4e9 })).toThrow(
      "training needs about 6.89 GB of memory (resnet50 d=550, 4096 positions: accumulator 4.98 GB + threshold scoring 0.61 GB + resnet50 backbone and scratch 1.30 GB), this machine's memory allows 4.00 GB",
    );
    // A smaller d or image fits: d=100 at 128×128 is 1024 positions.
    expect(() => checkTrainingMemory(resnet50, { d: '100', size: '128' }, { totalBytes: 4e9, freeBytes: 4e9 })).not.toThrow();
  });

  it('warns when it fits the machine but not what is free now', () => {
    expect(checkTrainingMemory(resnet50, {}, { totalBytes: 24e9, freeBytes: 5e9 })).toMatch(
      /^warning: training needs about 6\.89 GB .* 5\.00 GB is free now\n$/,
    );
    expect(checkTrainingMemory(resnet50, {}, { totalBytes: 24e9, freeBytes: 7e9 })).toBeNull();
  });
});
