import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { KERAS_CAFFE_NORMALIZATION } from '@padim-fleet/padim-core';
import { EmbeddingExtractor, resolveEmbedding } from '../pipeline/embedding-extractor';
import { resolveBackbone } from './resolve-backbone';
import { convertKerasResnet50 } from './resnet50';

describe('resolveBackbone', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'padim-onnx-'));
    await fs.writeFile(path.join(dir, 'custom.onnx'), await convertKerasResnet50({ head: 'features' }));
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('loads any ONNX file with a sidecar naming its outputs, channels and normalisation', async () => {
    await fs.writeFile(
      path.join(dir, 'custom.json'),
      JSON.stringify({ outputs: ['conv2', 'conv3', 'conv4'], channels: [256, 512, 1024], normalization: 'keras-caffe' }),
    );
    const backbone = await resolveBackbone(path.join(dir, 'custom.onnx'));
    expect(backbone.spec.name).toMatch(/^onnx:[0-9a-f]{16}$/);
    expect(backbone.spec.normalization).toEqual(KERAS_CAFFE_NORMALIZATION);
    const extractor = await EmbeddingExtractor.create(backbone, resolveEmbedding(backbone, { d: 10, seed: 1 }), 64);
    const emb = await extractor.run(new Float32Array(2 * 3 * 64 * 64).fill(0.5), 2);
    await extractor.release();
    expect(emb.length).toBe(2 * 10 * 16 * 16);
  });

  it('names what is wrong with a missing or malformed sidecar, and an unknown backbone', async () => {
    await fs.copyFile(path.join(dir, 'custom.onnx'), path.join(dir, 'lonely.onnx'));
    await expect(resolveBackbone(path.join(dir, 'lonely.onnx'))).rejects.toThrow(/needs a sidecar lonely.json/);
    await fs.writeFile(
      path.join(dir, 'custom.json'),
      JSON.stringify({ outputs: ['conv2', 'conv3'], channels: [256, 512, 1024], normalization: 'keras-caffe' }),
    );
    await expect(resolveBackbone(path.join(dir, 'custom.onnx'))).rejects.toThrow(/"outputs" must name three outputs/);
    await fs.writeFile(path.join(dir, 'custom.json'), JSON.stringify({ outputs: ['a', 'b', 'c'], channels: [1, 2, 3], normalization: 'imagenet' }));
    await expect(resolveBackbone(path.join(dir, 'custom.onnx'))).rejects.toThrow(/"normalization" must be/);
    await expect(resolveBackbone('vgg16')).rejects.toThrow(/unknown backbone "vgg16": use resnet18, resnet50 or a path to an .onnx file/);
  });
});
