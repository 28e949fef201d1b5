import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One entry of a tfjs `weightsManifest` group. */
export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number; [key: string]: unknown };
}

export interface TfjsWeightGroup {
  paths: string[];
  weights: TfjsWeightSpec[];
}

/** `[layerName, nodeIndex, tensorIndex, kwargs]`, as Keras 2.x serialises a functional model's edges. */
export type KerasInboundRef = [string, number, number, Record<string, unknown>?];

export interface KerasLayer {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  /** One entry per call of the layer; each call lists the tensors it consumed. */
  inbound_nodes: KerasInboundRef[][];
}

export interface TfjsLayersModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  modelTopology: {
    keras_version?: string;
    model_config: {
      class_name: string;
      config: { name?: string; layers: KerasLayer[]; input_layers: [string, number, number][]; output_layers: [string, number, number][] };
    };
  };
  weightsManifest: TfjsWeightGroup[];
}

export interface TfjsWeight {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** A functional Keras model read from a tfjs layers-model folder, with its float32 weights by name. */
export interface TfjsLayersModel {
  modelDir: string;
  json: TfjsLayersModelJson;
  /** sha256 (hex) of the model.json bytes: identifies the model for caches. */
  modelJsonSha256: string;
  layers: KerasLayer[];
  inputLayers: string[];
  outputLayers: string[];
  weights: Map<string, TfjsWeight>;
}

const BYTES_PER_DTYPE: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

function product(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Reads `model.json` and every weight shard it names; only unquantised float32 weights are supported. */
export async function loadTfjsLayersModel(modelDir: string): Promise<TfjsLayersModel> {
  const jsonPath = join(modelDir, 'model.json');
  const jsonBytes = await readFile(jsonPath);
  let json: TfjsLayersModelJson;
  try {
    json = JSON.parse(jsonBytes.toString('utf8')) as TfjsLayersModelJson;
  } catch (err) {
    throw new Error(`${jsonPath}: not valid JSON (${(err as Error).message})`);
  }
  if (json.format !== undefined && json.format !== 'layers-model') {
    throw new Error(`${jsonPath}: format "${json.format}" is not a tfjs layers-model`);
  }
  const modelConfig = json.modelTopology?.model_config;
  if (!modelConfig || !Array.isArray(modelConfig.config?.layers)) {
    throw new Error(`${jsonPath}: no modelTopology.model_config.config.layers`);
  }
  if (modelConfig.class_name !== 'Model' && modelConfig.class_name !== 'Functional') {
    throw new Error(`${jsonPath}: model class "${modelConfig.class_name}" is not supported (only functional Keras models: Model/Functional)`);
  }
  for (const layer of modelConfig.config.layers) {
    if (!Array.isArray(layer.inbound_nodes) || layer.inbound_nodes.some((call) => !Array.isArray(call) || call.some((ref) => !Array.isArray(ref)))) {
      throw new Error(`${jsonPath}: layer "${layer.name}" has inbound_nodes in a format other than Keras 2.x [name, node, tensor, kwargs] lists`);
    }
  }
  const weights = await readWeights(modelDir, json.weightsManifest ?? []);
  return {
    modelDir,
    json,
    modelJsonSha256: createHash('sha256').update(jsonBytes).digest('hex'),
    layers: modelConfig.config.layers,
    inputLayers: modelConfig.config.input_layers.map((r) => r[0]),
    outputLayers: modelConfig.config.output_layers.map((r) => r[0]),
    weights,
  };
}

async function readWeights(modelDir: string, manifest: TfjsWeightGroup[]): Promise<Map<string, TfjsWeight>> {
  const out = new Map<string, TfjsWeight>();
  for (const group of manifest) {
    for (const w of group.weights) {
      if (w.quantization) {
        throw new Error(
          `weight "${w.name}" is quantized (${JSON.stringify(w.quantization)}); quantized tfjs weights are not supported, re-export the model as float32`,
        );
      }
      if (w.dtype !== 'float32') {
        throw new Error(`weight "${w.name}" has dtype ${w.dtype}; only float32 weights are supported`);
      }
    }
    // A group's weights are packed back to back across its shards, so the shards are read as one buffer.
    const shards = await Promise.all(
      group.paths.map(async (p) => {
        try {
          return await readFile(join(modelDir, p));
        } catch (err) {
          throw new Error(`weight shard ${join(modelDir, p)} cannot be read: ${(err as Error).message}`);
        }
      }),
    );
    const bytes = Buffer.concat(shards);
    const expected = group.weights.reduce((sum, w) => sum + product(w.shape) * BYTES_PER_DTYPE[w.dtype], 0);
    if (bytes.length !== expected) {
      throw new Error(`weight shards [${group.paths.join(', ')}] hold ${bytes.length} bytes but their manifest describes ${expected}`);
    }
    let offset = 0;
    for (const w of group.weights) {
      const n = product(w.shape);
      // Copy into a fresh aligned Float32Array (shard buffers are not 4-byte aligned in general); tfjs is little-endian.
      const data = new Float32Array(n);
      new Uint8Array(data.buffer).set(bytes.subarray(offset, offset + n * 4));
      offset += n * 4;
      if (out.has(w.name)) throw new Error(`weight "${w.name}" appears twice in weightsManifest`);
      out.set(w.name, { name: w.name, shape: w.shape, data });
    }
  }
  return out;
}
