import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { onnx } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { mulberry32 } from '@padim-fleet/padim-core';
import sharp from 'sharp';
import {
  convertKerasResnet50,
  kerasLayersToOnnx,
  loadResnet50Backbone,
  RESNET50_CLASSIFIER_OUTPUT,
  RESNET50_FEATURE_LAYERS,
  resnet50CachePath,
  resnet50ModelDir,
  resnet50Spec,
} from './resnet50';
import { KerasLayer, loadTfjsLayersModel } from './tfjs-layers';

const REPO_ROOT = resolve(__dirname, '../../../..');
const PHOTOS_DIR = process.env.PADIM_TEST_PHOTOS ?? join(REPO_ROOT, '.cache/test-photos');
const PHOTOS = ['dog.jpg', 'eagle.jpg'];
const photosPresent = PHOTOS.every((p) => existsSync(join(PHOTOS_DIR, p)));
const PHOTO_REASON = `test photos ${PHOTOS.join(', ')} not found in ${PHOTOS_DIR}; run infra/fetch-test-photos.sh (or set PADIM_TEST_PHOTOS)`;

// ImageNet-1k indices (Keras/Caffe order): 249 = "malamute, malemute, Alaskan malamute", 22 = "bald eagle, American eagle".
const MALAMUTE = 249;
const BALD_EAGLE = 22;

/**
 * Keras "caffe" preprocessing: 224×224, RGB→BGR, subtract the BGR means; laid out NCHW.
 * The photos are not square: the central square is taken (sharp 'cover'), with nearest-neighbour
 * sampling as Keras's load_img does by default. Squashing the whole 4:3 photo instead still gives
 * the right top-1 but leaves the small dog at p ≈ 0.3–0.5.
 */
async function caffeBatch(files: string[]): Promise<ort.Tensor> {
  const size = 224;
  const plane = size * size;
  const data = new Float32Array(files.length * 3 * plane);
  const mean = resnet50Spec.normalization.mean; // BGR order
  for (const [n, file] of files.entries()) {
    const { data: rgb, info } = await sharp(file)
      .removeAlpha()
      .resize(size, size, { fit: 'cover', kernel: 'nearest' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(3);
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) data[(n * 3 + c) * plane + i] = rgb[i * 3 + (2 - c)] - mean[c];
    }
  }
  return new ort.Tensor('float32', data, [files.length, 3, size, size]);
}

function top1(probs: Float32Array, n: number, classes = 1000): { index: number; p: number } {
  const row = probs.subarray(n * classes, (n + 1) * classes);
  let index = 0;
  for (let i = 1; i < classes; i++) if (row[i] > row[index]) index = i;
  return { index, p: row[index] };
}

async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: 2, graphOptimizationLevel: 'all' });
}

// ---------------------------------------------------------------------------------------------
// A tiny fake Keras model, written as a tfjs layers-model, and a naive NHWC reference for it.

interface FakeWeight {
  name: string;
  shape: number[];
  data: Float32Array;
}

function kerasLayer(name: string, className: string, config: Record<string, unknown>, inputs: string[]): KerasLayer {
  return { name, class_name: className, config: { name, ...config }, inbound_nodes: inputs.length ? [inputs.map((i) => [i, 0, 0, {}])] : [] };
}

async function writeFakeModel(dir: string, layers: KerasLayer[], weights: FakeWeight[], output: string): Promise<void> {
  const bytes = new Uint8Array(weights.reduce((s, w) => s + w.data.byteLength, 0));
  let off = 0;
  for (const w of weights) {
    bytes.set(new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength), off);
    off += w.data.byteLength;
  }
  await writeFile(join(dir, 'group1-shard1of1.bin'), bytes);
  const json = {
    format: 'layers-model',
    modelTopology: {
      keras_version: '2.2.4',
      model_config: { class_name: 'Model', config: { name: 'fake', layers, input_layers: [[layers[0].name, 0, 0]], output_layers: [[output, 0, 0]] } },
    },
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })) }],
  };
  await writeFile(join(dir, 'model.json'), JSON.stringify(json));
}

/** One NHWC image. */
interface Img {
  h: number;
  w: number;
  c: number;
  d: Float64Array;
}

const at = (t: Img, y: number, x: number, c: number): number => (y < 0 || x < 0 || y >= t.h || x >= t.w ? 0 : t.d[(y * t.w + x) * t.c + c]);

function refPad(t: Img, top: number, bottom: number, left: number, right: number): Img {
  const h = t.h + top + bottom;
  const w = t.w + left + right;
  const d = new Float64Array(h * w * t.c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < t.c; c++) d[(y * w + x) * t.c + c] = at(t, y - top, x - left, c);
  return { h, w, c: t.c, d };
}

/** Keras Conv2D (HWIO kernel); 'same' pads as TensorFlow does (the odd pixel goes at the end). */
function refConv(t: Img, k: FakeWeight, bias: FakeWeight | undefined, stride: number, padding: 'valid' | 'same'): Img {
  const [kh, kw, cin, cout] = k.shape;
  let oh: number,
    ow: number,
    pt = 0,
    pl = 0;
  if (padding === 'valid') {
    oh = Math.floor((t.h - kh) / stride) + 1;
    ow = Math.floor((t.w - kw) / stride) + 1;
  } else {
    oh = Math.ceil(t.h / stride);
    ow = Math.ceil(t.w / stride);
    pt = Math.floor(Math.max((oh - 1) * stride + kh - t.h, 0) / 2);
    pl = Math.floor(Math.max((ow - 1) * stride + kw - t.w, 0) / 2);
  }
  const d = new Float64Array(oh * ow * cout);
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++) {
      const o0 = (y * ow + x) * cout;
      for (let o = 0; o < cout; o++) d[o0 + o] = bias ? bias.data[o] : 0;
      for (let i = 0; i < kh; i++) {
        const sy = y * stride + i - pt;
        if (sy < 0 || sy >= t.h) continue; // zero padding
        for (let j = 0; j < kw; j++) {
          const sx = x * stride + j - pl;
          if (sx < 0 || sx >= t.w) continue;
          for (let c = 0; c < cin; c++) {
            const v = t.d[(sy * t.w + sx) * t.c + c];
            if (v === 0) continue;
            const k0 = ((i * kw + j) * cin + c) * cout;
            for (let o = 0; o < cout; o++) d[o0 + o] += v * k.data[k0 + o];
          }
        }
      }
    }
  return { h: oh, w: ow, c: cout, d };
}

function refBn(t: Img, [gamma, beta, mean, variance]: FakeWeight[], eps: number): Img {
  const d = t.d.map((v, i) => {
    const c = i % t.c;
    return ((v - mean.data[c]) / Math.sqrt(variance.data[c] + eps)) * gamma.data[c] + beta.data[c];
  });
  return { ...t, d };
}

const refRelu = (t: Img): Img => ({ ...t, d: t.d.map((v) => Math.max(v, 0)) });

function refMaxPool(t: Img, k: number, s: number): Img {
  const oh = Math.floor((t.h - k) / s) + 1;
  const ow = Math.floor((t.w - k) / s) + 1;
  const d = new Float64Array(oh * ow * t.c);
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++)
      for (let c = 0; c < t.c; c++) {
        let m = -Infinity;
        for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) m = Math.max(m, at(t, y * s + i, x * s + j, c));
        d[(y * ow + x) * t.c + c] = m;
      }
  return { h: oh, w: ow, c: t.c, d };
}

function refDenseSoftmax(flat: Float64Array, k: FakeWeight, b: FakeWeight): Float64Array {
  const [nin, units] = k.shape;
  const z = new Float64Array(units);
  for (let u = 0; u < units; u++) {
    z[u] = b.data[u];
    for (let i = 0; i < nin; i++) z[u] += flat[i] * k.data[i * units + u];
  }
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const sum = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / sum);
}

function nhwcToNchw(t: Img): Float32Array {
  const out = new Float32Array(t.d.length);
  for (let y = 0; y < t.h; y++) for (let x = 0; x < t.w; x++) for (let c = 0; c < t.c; c++) out[(c * t.h + y) * t.w + x] = t.d[(y * t.w + x) * t.c + c];
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * zero-pad (asymmetric) → conv 3×3/2 valid → BN (foldable) → relu → { conv 3×3/2 same | maxpool 2/2 } → add
 * → conv 3×3/1 same with relu → BN (not foldable: after the conv's activation) → flatten → dense softmax.
 */
function tinyModel(): { layers: KerasLayer[]; weights: FakeWeight[]; w: Record<string, FakeWeight> } {
  const r = mulberry32(7);
  const weights: FakeWeight[] = [];
  const w: Record<string, FakeWeight> = {};
  const add = (name: string, shape: number[], gen: () => number): void => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, gen);
    w[name] = { name, shape, data };
    weights.push(w[name]);
  };
  const sym = (): number => r() * 2 - 1;
  const bn = (name: string, c: number): void => {
    add(`${name}/gamma`, [c], () => 0.5 + r());
    add(`${name}/beta`, [c], sym);
    add(`${name}/moving_mean`, [c], sym);
    add(`${name}/moving_variance`, [c], () => 0.2 + r());
  };
  add('conv_a/kernel', [3, 3, 3, 4], sym);
  add('conv_a/bias', [4], sym);
  bn('bn_a', 4);
  add('conv_b/kernel', [3, 3, 4, 4], sym);
  add('conv_b/bias', [4], sym);
  add('conv_c/kernel', [3, 3, 4, 5], sym);
  add('conv_c/bias', [5], sym);
  bn('bn_c', 5);
  add('fc/kernel', [45, 3], sym);
  add('fc/bias', [3], sym);
  const conv = (filters: number, k: number, strides: number, padding: string, activation = 'linear'): Record<string, unknown> => ({
    filters,
    kernel_size: [k, k],
    strides: [strides, strides],
    padding,
    data_format: 'channels_last',
    dilation_rate: [1, 1],
    activation,
    use_bias: true,
  });
  const bnCfg = (epsilon: number): Record<string, unknown> => ({ axis: [3], epsilon, center: true, scale: true });
  const layers = [
    kerasLayer('input_1', 'InputLayer', { batch_input_shape: [null, null, null, 3], dtype: 'float32' }, []),
    kerasLayer(
      'zp',
      'ZeroPadding2D',
      {
        padding: [
          [1, 2],
          [2, 1],
        ],
        data_format: 'channels_last',
      },
      ['input_1'],
    ),
    kerasLayer('conv_a', 'Conv2D', conv(4, 3, 2, 'valid'), ['zp']),
    kerasLayer('bn_a', 'BatchNormalization', bnCfg(0.001), ['conv_a']),
    kerasLayer('act_a', 'Activation', { activation: 'relu' }, ['bn_a']),
    kerasLayer('conv_b', 'Conv2D', conv(4, 3, 2, 'same'), ['act_a']),
    kerasLayer('mp', 'MaxPooling2D', { pool_size: [2, 2], strides: [2, 2], padding: 'valid', data_format: 'channels_last' }, ['act_a']),
    kerasLayer('add', 'Add', {}, ['conv_b', 'mp']),
    kerasLayer('conv_c', 'Conv2D', conv(5, 3, 1, 'same', 'relu'), ['add']),
    kerasLayer('bn_c', 'BatchNormalization', bnCfg(0.01), ['conv_c']),
    kerasLayer('flat', 'Flatten', { data_format: 'channels_last' }, ['bn_c']),
    kerasLayer('fc', 'Dense', { units: 3, activation: 'softmax', use_bias: true }, ['flat']),
  ];
  return { layers, weights, w };
}

function tinyReference(x: Img, w: Record<string, FakeWeight>): { add: Img; probs: Float64Array } {
  const bnW = (n: string): FakeWeight[] => ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((p) => w[`${n}/${p}`]);
  const a = refRelu(refBn(refConv(refPad(x, 1, 2, 2, 1), w['conv_a/kernel'], w['conv_a/bias'], 2, 'valid'), bnW('bn_a'), 0.001));
  const b = refConv(a, w['conv_b/kernel'], w['conv_b/bias'], 2, 'same');
  const m = refMaxPool(a, 2, 2);
  const sum: Img = { ...b, d: b.d.map((v, i) => v + m.d[i]) };
  const c = refBn(refRelu(refConv(sum, w['conv_c/kernel'], w['conv_c/bias'], 1, 'same')), bnW('bn_c'), 0.01);
  return { add: sum, probs: refDenseSoftmax(c.d, w['fc/kernel'], w['fc/bias']) };
}

/**
 * A direct NHWC interpreter of a Keras layer list (no BN folding, explicit zero padding), used as an
 * independent reference for the converted graph on the real weights.
 */
function interpretKeras(model: Awaited<ReturnType<typeof loadTfjsLayersModel>>, x: Img, stopAt: string[]): Map<string, Img | Float64Array> {
  const vals = new Map<string, Img | Float64Array>();
  const wt = (layer: KerasLayer, p: string): FakeWeight => {
    const w = model.weights.get(`${layer.name}/${p}`)!;
    return { name: w.name, shape: w.shape, data: w.data };
  };
  const wanted = new Set(stopAt);
  for (const layer of model.layers) {
    const ins = (layer.inbound_nodes[0] ?? []).map((r) => vals.get(r[0])!);
    const cfg = layer.config as Record<string, any>;
    let out: Img | Float64Array;
    switch (layer.class_name) {
      case 'InputLayer':
        out = x;
        break;
      case 'ZeroPadding2D': {
        const [[t, b], [l, r]] = cfg.padding;
        out = refPad(ins[0] as Img, t, b, l, r);
        break;
      }
      case 'Conv2D':
        out = refConv(ins[0] as Img, wt(layer, 'kernel'), wt(layer, 'bias'), cfg.strides[0], cfg.padding);
        break;
      case 'BatchNormalization':
        out = refBn(
          ins[0] as Img,
          ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((p) => wt(layer, p)),
          cfg.epsilon,
        );
        break;
      case 'Activation':
        if (cfg.activation !== 'relu') throw new Error(`interpreter: activation ${cfg.activation}`);
        out = refRelu(ins[0] as Img);
        break;
      case 'MaxPooling2D':
        out = refMaxPool(ins[0] as Img, cfg.pool_size[0], cfg.strides[0]);
        break;
      case 'Add': {
        const [a, b] = ins as Img[];
        out = { ...a, d: a.d.map((v, i) => v + b.d[i]) };
        break;
      }
      case 'GlobalAveragePooling2D': {
        const t = ins[0] as Img;
        const m = new Float64Array(t.c);
        for (let i = 0; i < t.d.length; i++) m[i % t.c] += t.d[i] / (t.h * t.w);
        out = m;
        break;
      }
      case 'Dense':
        out = refDenseSoftmax(ins[0] as Float64Array, wt(layer, 'kernel'), wt(layer, 'bias'));
        break;
      default:
        throw new Error(`interpreter: ${layer.class_name}`);
    }
    vals.set(layer.name, out);
    wanted.delete(layer.name);
    if (wanted.size === 0) break;
  }
  return vals;
}

function randomImage(h: number, w: number, seed: number): Img {
  const r = mulberry32(seed);
  return { h, w, c: 3, d: Float64Array.from({ length: h * w * 3 }, () => r() * 4 - 2) };
}

describe('Keras layers → ONNX converter on a tiny fake model', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keras-fake-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([true, false])('matches a naive NHWC reference (foldBatchNorm %s)', async (foldBatchNorm) => {
    const { layers, weights, w } = tinyModel();
    await writeFakeModel(dir, layers, weights, 'fc');
    const model = await loadTfjsLayersModel(dir);
    const x = randomImage(11, 11, 3);
    const ref = tinyReference(x, w);
    const bytes = kerasLayersToOnnx(model, { graphName: 'tiny', inputName: 'image', outputs: { feat: 'add', probabilities: 'fc' }, foldBatchNorm });
    const decoded = onnx.ModelProto.decode(bytes);
    const ops = decoded.graph!.node!.map((n) => n.opType);
    // Folding removes the foldable BN and the Pad; the BN after a relu conv stays either way.
    expect(ops.filter((o) => o === 'BatchNormalization')).toHaveLength(foldBatchNorm ? 1 : 2);
    expect(ops).not.toContain('Pad');
    const s = await session(bytes);
    const out = await s.run({ image: new ort.Tensor('float32', nhwcToNchw(x), [1, 3, 11, 11]) });
    expect(out.feat.dims).toEqual([1, 4, 3, 3]);
    expect(maxAbsDiff(out.feat.data as Float32Array, nhwcToNchw(ref.add))).toBeLessThan(1e-4);
    expect(maxAbsDiff(out.probabilities.data as Float32Array, ref.probs)).toBeLessThan(1e-5);
  });

  it('keeps H and W dynamic (a 15×10 input)', async () => {
    const { layers, weights, w } = tinyModel();
    await writeFakeModel(dir, layers, weights, 'fc');
    const model = await loadTfjsLayersModel(dir);
    const bytes = kerasLayersToOnnx(model, { graphName: 'tiny', inputName: 'image', outputs: { feat: 'add' }, foldBatchNorm: true });
    const x = randomImage(15, 10, 4);
    const ref = tinyReference(x, w).add;
    const out = await (await session(bytes)).run({ image: new ort.Tensor('float32', nhwcToNchw(x), [1, 3, 15, 10]) });
    expect(out.feat.dims).toEqual([1, 4, ref.h, ref.w]);
    expect(maxAbsDiff(out.feat.data as Float32Array, nhwcToNchw(ref))).toBeLessThan(1e-4);
  });

  it('fails clearly on an unsupported layer type', async () => {
    const { layers, weights } = tinyModel();
    layers.push(kerasLayer('leaky', 'LeakyReLU', { alpha: 0.3 }, ['fc']));
    await writeFakeModel(dir, layers, weights, 'leaky');
    await expect(convertKerasResnet50({ modelDir: dir, head: 'classifier' })).rejects.toThrow(
      /layer "leaky" has unsupported type LeakyReLU \(supported: InputLayer, ZeroPadding2D, Conv2D, /,
    );
  });

  it('fails clearly on an unsupported activation', async () => {
    const { layers, weights } = tinyModel();
    layers[4] = kerasLayer('act_a', 'Activation', { activation: 'elu' }, ['bn_a']);
    await writeFakeModel(dir, layers, weights, 'fc');
    await expect(convertKerasResnet50({ modelDir: dir, head: 'classifier' })).rejects.toThrow(
      /layer "act_a" \(Activation\): activation "elu" is not supported/,
    );
  });

  it('fails clearly on a missing weight', async () => {
    const { layers, weights } = tinyModel();
    await writeFakeModel(
      dir,
      layers,
      weights.filter((x) => x.name !== 'bn_a/moving_variance'),
      'fc',
    );
    await expect(convertKerasResnet50({ modelDir: dir, head: 'classifier' })).rejects.toThrow(
      /layer "bn_a" \(BatchNormalization\): weight "bn_a\/moving_variance" is missing from the weightsManifest/,
    );
  });

  it('fails clearly on a kernel whose shape does not fit the layer', async () => {
    const { layers, weights } = tinyModel();
    const k = weights.find((x) => x.name === 'conv_b/kernel')!;
    k.shape = [3, 3, 2, 8];
    await writeFakeModel(dir, layers, weights, 'fc');
    await expect(convertKerasResnet50({ modelDir: dir, head: 'classifier' })).rejects.toThrow(
      /weight "conv_b\/kernel" has shape \[3, 3, 2, 8\], expected \[3, 3, 4, 4\]/,
    );
  });

  it("fails clearly when the 'features' layers are absent", async () => {
    const { layers, weights } = tinyModel();
    await writeFakeModel(dir, layers, weights, 'fc');
    await expect(convertKerasResnet50({ modelDir: dir })).rejects.toThrow(/output "conv2" asks for layer "activation_9", which the model does not have/);
  });
});

// ---------------------------------------------------------------------------------------------
// The packaged Keras ResNet-50.

describe('Keras ResNet-50', () => {
  it('names the ReLU that ends conv2, conv3 and conv4 as the feature layers', async () => {
    const model = await loadTfjsLayersModel(resnet50ModelDir());
    const byName = new Map(model.layers.map((l) => [l.name, l]));
    const nextStage = { conv2: 'res3a_', conv3: 'res4a_', conv4: 'res5a_' };
    for (const [out, name] of Object.entries(RESNET50_FEATURE_LAYERS)) {
      const layer = byName.get(name)!;
      expect(layer.class_name).toBe('Activation');
      expect(layer.config.activation).toBe('relu');
      expect(byName.get(layer.inbound_nodes[0][0][0])!.class_name).toBe('Add');
      // Its consumers open the next stage (both the branch2a conv and the branch1 shortcut).
      const consumers = model.layers.filter((l) => l.inbound_nodes.some((call) => call.some((ref) => ref[0] === name))).map((l) => l.name);
      expect(consumers.sort()).toEqual([`${nextStage[out as keyof typeof nextStage]}branch1`, `${nextStage[out as keyof typeof nextStage]}branch2a`]);
    }
  });

  it('matches a direct NHWC interpreter of the Keras layers on the real weights (64×64 input)', async () => {
    const model = await loadTfjsLayersModel(resnet50ModelDir());
    const outputs = { ...RESNET50_FEATURE_LAYERS, [RESNET50_CLASSIFIER_OUTPUT]: 'fc1000' };
    const bytes = kerasLayersToOnnx(model, { graphName: 'check', inputName: 'image', outputs, foldBatchNorm: true });
    const r = mulberry32(5);
    const x = randomImage(64, 64, 0);
    x.d = x.d.map(() => r() * 255 - 115);
    const ref = interpretKeras(model, x, Object.values(outputs));
    const got = await (await session(bytes)).run({ image: new ort.Tensor('float32', nhwcToNchw(x), [1, 3, 64, 64]) });
    for (const [name, layer] of Object.entries(outputs)) {
      const want = ref.get(layer)!;
      const wantData = want instanceof Float64Array ? want : nhwcToNchw(want);
      const scale = wantData.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(maxAbsDiff(got[name].data as Float32Array, wantData) / scale).toBeLessThan(1e-4);
    }
  });

  it("'features' head: 1×3×256×256 → conv2 256×64×64, conv3 512×32×32, conv4 1024×16×16; folded BN matches unfolded", async () => {
    const t0 = performance.now();
    const bytes = await convertKerasResnet50();
    const convertMs = performance.now() - t0;
    const decoded = onnx.ModelProto.decode(bytes);
    const ops = decoded.graph!.node!.map((n) => n.opType);
    expect(ops).not.toContain('BatchNormalization');
    expect(ops).not.toContain('Gemm');
    expect(decoded.graph!.output!.map((o) => o.name)).toEqual(resnet50Spec.outputs);
    console.log(`resnet50 'features' conversion: ${convertMs.toFixed(0)} ms, ${(bytes.length / 1e6).toFixed(1)} MB, ${ops.length} nodes`);

    const r = mulberry32(1);
    const input = new ort.Tensor(
      'float32',
      Float32Array.from({ length: 3 * 256 * 256 }, () => r() * 255 - 120),
      [1, 3, 256, 256],
    );
    const folded = await (await session(bytes)).run({ image: input });
    for (const [i, name] of resnet50Spec.outputs.entries()) {
      const side = 256 / resnet50Spec.strides[i];
      expect(folded[name].dims).toEqual([1, resnet50Spec.channels[i], side, side]);
    }
    const unfoldedBytes = await convertKerasResnet50({ foldBatchNorm: false });
    const unfolded = await (await session(unfoldedBytes)).run({ image: input });
    for (const name of resnet50Spec.outputs) {
      const a = folded[name].data as Float32Array;
      const b = unfolded[name].data as Float32Array;
      const scale = b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(maxAbsDiff(a, b) / scale).toBeLessThan(1e-4);
    }
  });

  describe("'classifier' head on real photos (Keras caffe preprocessing)", () => {
    const itPhotos = photosPresent || process.env.CI === 'true' ? it : it.skip;
    if (!photosPresent && process.env.CI !== 'true') console.warn(`skipping the pretrained ResNet-50 photo checks: ${PHOTO_REASON}`);

    let classifier: Uint8Array;
    let batch: ort.Tensor;
    beforeAll(async () => {
      if (!photosPresent) {
        if (process.env.CI === 'true') throw new Error(PHOTO_REASON);
        return;
      }
      classifier = await convertKerasResnet50({ head: 'classifier' });
      batch = await caffeBatch(PHOTOS.map((p) => join(PHOTOS_DIR, p)));
    });

    itPhotos('classifies the dog as a malamute and the eagle as a bald eagle', async () => {
      const out = await (await session(classifier)).run({ image: batch });
      expect(out[RESNET50_CLASSIFIER_OUTPUT].dims).toEqual([2, 1000]);
      const probs = out[RESNET50_CLASSIFIER_OUTPUT].data as Float32Array;
      const [dog, eagle] = [top1(probs, 0), top1(probs, 1)];
      console.log(`resnet50 classifier: dog → ${dog.index} (p ${dog.p.toFixed(3)}), eagle → ${eagle.index} (p ${eagle.p.toFixed(3)})`);
      expect(dog.index).toBe(MALAMUTE);
      expect(dog.p).toBeGreaterThan(0.5);
      expect(eagle.index).toBe(BALD_EAGLE);
      expect(eagle.p).toBeGreaterThan(0.5);
    });

    itPhotos('control: the same graph with each conv kernel shuffled does not find the malamute', async () => {
      const model = onnx.ModelProto.decode(classifier);
      const r = mulberry32(42);
      let shuffled = 0;
      for (const init of model.graph!.initializer!) {
        if (init.dims!.length !== 4) continue;
        const raw = init.rawData!;
        // Copy: raw is a view into the whole decoded model buffer.
        const values = new Float32Array(raw.byteLength / 4);
        new Uint8Array(values.buffer).set(raw);
        for (let i = values.length - 1; i > 0; i--) {
          const j = Math.floor(r() * (i + 1));
          [values[i], values[j]] = [values[j], values[i]];
        }
        init.rawData = new Uint8Array(values.buffer);
        shuffled++;
      }
      expect(shuffled).toBe(53);
      const bytes = onnx.ModelProto.encode(model).finish();
      const out = await (await session(bytes)).run({ image: batch });
      const probs = out[RESNET50_CLASSIFIER_OUTPUT].data as Float32Array;
      const dog = top1(probs, 0);
      console.log(`resnet50 shuffled-weights control: dog → ${dog.index} (p ${dog.p.toFixed(3)}), p(malamute) ${probs[MALAMUTE].toExponential(2)}`);
      expect(dog.index).not.toBe(MALAMUTE);
      expect(probs[MALAMUTE]).toBeLessThan(0.5);
    });
  });

  describe('loadResnet50Backbone', () => {
    let cacheDir: string;
    beforeAll(async () => {
      cacheDir = await mkdtemp(join(tmpdir(), 'resnet50-cache-'));
    });
    afterAll(async () => {
      await rm(cacheDir, { recursive: true, force: true });
    });

    it('converts once, caches atomically under the model.json hash, and reuses the file', async () => {
      const path = await resnet50CachePath(cacheDir);
      expect(path).toMatch(/resnet50-keras-[0-9a-f]{16}\.onnx$/);

      let t = performance.now();
      const first = await loadResnet50Backbone(cacheDir);
      const firstMs = performance.now() - t;
      const { mtimeMs } = await stat(path);
      expect(await readdir(cacheDir)).toEqual([path.split('/').pop()]); // no temp file left behind

      t = performance.now();
      const second = await loadResnet50Backbone(cacheDir);
      const secondMs = performance.now() - t;
      console.log(`loadResnet50Backbone: convert + write ${firstMs.toFixed(0)} ms, cached read ${secondMs.toFixed(0)} ms`);
      expect((await stat(path)).mtimeMs).toBe(mtimeMs);
      expect(secondMs).toBeLessThan(firstMs);
      expect(Buffer.compare(Buffer.from(first), Buffer.from(second))).toBe(0);
      const s = await session(second);
      expect(s.inputNames).toEqual([resnet50Spec.inputName]);
      expect(s.outputNames).toEqual(resnet50Spec.outputs);
    });
  });
});
