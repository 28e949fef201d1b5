import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resnet50ModelDir } from './resnet50';
import { loadTfjsLayersModel, TfjsWeightSpec } from './tfjs-layers';

const TOPOLOGY = {
  keras_version: '2.2.4',
  model_config: {
    class_name: 'Model',
    config: {
      name: 'tiny',
      layers: [{ name: 'input_1', class_name: 'InputLayer', config: { batch_input_shape: [null, null, null, 1] }, inbound_nodes: [] }],
      input_layers: [['input_1', 0, 0]],
      output_layers: [['input_1', 0, 0]],
    },
  },
};

async function writeModel(dir: string, weights: TfjsWeightSpec[], shards: Uint8Array[], extra: Record<string, unknown> = {}): Promise<void> {
  const paths = shards.map((_, i) => `group1-shard${i + 1}of${shards.length}.bin`);
  await Promise.all(shards.map((s, i) => writeFile(join(dir, paths[i]), s)));
  const json = { format: 'layers-model', modelTopology: TOPOLOGY, weightsManifest: [{ paths, weights }], ...extra };
  await writeFile(join(dir, 'model.json'), JSON.stringify(json));
}

describe('loadTfjsLayersModel', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tfjs-layers-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads weights packed back to back across shards, splitting a weight across a shard boundary', async () => {
    const all = new Float32Array([1, 2, 3, 4, 5, 6, 7, -0.5]);
    const bytes = new Uint8Array(all.buffer);
    // 13 bytes then 19: the second weight starts mid-shard and straddles the boundary at an unaligned offset.
    await writeModel(
      dir,
      [
        { name: 'a/kernel', shape: [1, 3], dtype: 'float32' },
        { name: 'b/kernel', shape: [5], dtype: 'float32' },
      ],
      [bytes.slice(0, 13), bytes.slice(13)],
    );
    const model = await loadTfjsLayersModel(dir);
    expect(Array.from(model.weights.get('a/kernel')!.data)).toEqual([1, 2, 3]);
    expect(model.weights.get('b/kernel')!.shape).toEqual([5]);
    expect(Array.from(model.weights.get('b/kernel')!.data)).toEqual([4, 5, 6, 7, -0.5]);
    expect(model.inputLayers).toEqual(['input_1']);
    expect(model.modelJsonSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rejects quantized weights clearly', async () => {
    await writeModel(dir, [{ name: 'a/kernel', shape: [4], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.1, min: -1 } }], [new Uint8Array(4)]);
    await expect(loadTfjsLayersModel(dir)).rejects.toThrow(/weight "a\/kernel" is quantized .*uint8.*not supported/);
  });

  it('rejects non-float32 weights', async () => {
    await writeModel(dir, [{ name: 'a/steps', shape: [1], dtype: 'int32' }], [new Uint8Array(4)]);
    await expect(loadTfjsLayersModel(dir)).rejects.toThrow(/dtype int32; only float32/);
  });

  it('rejects shards whose size does not match the manifest', async () => {
    await writeModel(dir, [{ name: 'a/kernel', shape: [4], dtype: 'float32' }], [new Uint8Array(12)]);
    await expect(loadTfjsLayersModel(dir)).rejects.toThrow(/hold 12 bytes but their manifest describes 16/);
  });

  it('names a missing shard', async () => {
    await writeModel(dir, [{ name: 'a/kernel', shape: [1], dtype: 'float32' }], [new Uint8Array(4)]);
    await rm(join(dir, 'group1-shard1of1.bin'));
    await expect(loadTfjsLayersModel(dir)).rejects.toThrow(/group1-shard1of1\.bin cannot be read/);
  });

  it('rejects a graph-model (or other format) and a Sequential topology', async () => {
    await writeModel(dir, [], [], { format: 'graph-model' });
    await expect(loadTfjsLayersModel(dir)).rejects.toThrow(/format "graph-model" is not a tfjs layers-model/);
    await writeModel(dir, [], [], { modelTopology: { model_config: { class_name: 'Sequential', config: { layers: [] } } } });
    await expect(loadTfjsLayersModel(dir)).rejects.toThrow(/model class "Sequential" is not supported/);
  });

  it('reads the packaged Keras ResNet-50: 177 layers, 320 float32 weights', async () => {
    const model = await loadTfjsLayersModel(resnet50ModelDir());
    expect(model.layers).toHaveLength(177);
    expect(model.weights.size).toBe(320);
    expect(model.weights.get('conv1/kernel')!.shape).toEqual([7, 7, 3, 64]);
    expect(model.weights.get('fc1000/kernel')!.shape).toEqual([2048, 1000]);
    let total = 0;
    for (const w of model.weights.values()) total += w.data.length;
    expect(total * 4).toBe(102_546_848); // the 25 shards: 24 × 4 MiB + 1,883,552 bytes
    expect(model.outputLayers).toEqual(['fc1000']);
  });
});
