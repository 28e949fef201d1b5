import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { BackboneSpec, KERAS_CAFFE_NORMALIZATION, Normalization, TORCHVISION_NORMALIZATION } from '@padim-fleet/padim-core';
import { defaultCacheDir, defaultResnet18Dir } from '../config/paths';
import { sha256Hex } from '../model-io/model-folder';
import { buildResnet18Onnx, resnet18Spec } from './resnet18';
import { loadResnet50Backbone, resnet50Spec } from './resnet50';

export interface ResolvedBackbone {
  spec: BackboneSpec;
  onnx: Uint8Array;
  onnxSha256: string;
  /** d used when none is given: the paper's 100 for ResNet-18 and 550 for ResNet-50-sized features. */
  defaultD: number;
}

export interface BackboneOptions {
  resnet18Dir?: string;
  cacheDir?: string;
}

/**
 * The sidecar JSON beside a custom `<model>.onnx` (`<model>.json`): its three feature outputs
 * (strides 4, 8, 16), their channel counts and the input normalisation.
 */
export interface OnnxSidecar {
  inputName?: string;
  outputs: [string, string, string];
  channels: [number, number, number];
  normalization: 'torchvision' | 'keras-caffe' | Normalization;
  defaultD?: number;
}

export const BUILTIN_BACKBONES = ['resnet18', 'resnet50'] as const;

export async function resolveBackbone(name: string, opts: BackboneOptions = {}): Promise<ResolvedBackbone> {
  if (name === 'resnet18') {
    const onnx = await buildResnet18Onnx(opts.resnet18Dir ?? defaultResnet18Dir());
    return { spec: resnet18Spec, onnx, onnxSha256: sha256Hex(onnx), defaultD: 100 };
  }
  if (name === 'resnet50') {
    const onnx = await loadResnet50Backbone(opts.cacheDir ?? defaultCacheDir());
    return { spec: resnet50Spec, onnx, onnxSha256: sha256Hex(onnx), defaultD: 550 };
  }
  if (name.endsWith('.onnx')) return loadCustomOnnx(name);
  throw new Error(`unknown backbone "${name}": use ${BUILTIN_BACKBONES.join(', ')} or a path to an .onnx file with a .json sidecar`);
}

async function loadCustomOnnx(file: string): Promise<ResolvedBackbone> {
  const sidecarPath = file.replace(/\.onnx$/, '.json');
  let onnx: Buffer;
  let sidecarText: string;
  try {
    onnx = await fs.readFile(file);
  } catch (error) {
    throw new Error(`backbone ${file}: cannot read (${(error as Error).message})`);
  }
  try {
    sidecarText = await fs.readFile(sidecarPath, 'utf8');
  } catch {
    throw new Error(`backbone ${file}: needs a sidecar ${path.basename(sidecarPath)} naming its three outputs, channels and normalisation`);
  }
  let json: unknown;
  try {
    json = JSON.parse(sidecarText);
  } catch (error) {
    throw new Error(`${sidecarPath}: not valid JSON (${(error as Error).message})`);
  }
  const sidecar = parseSidecar(json, sidecarPath);
  const bytes = new Uint8Array(onnx.buffer, onnx.byteOffset, onnx.length);
  const sha = sha256Hex(bytes);
  const normalization =
    sidecar.normalization === 'torchvision'
      ? TORCHVISION_NORMALIZATION
      : sidecar.normalization === 'keras-caffe'
        ? KERAS_CAFFE_NORMALIZATION
        : sidecar.normalization;
  const spec: BackboneSpec = {
    name: `onnx:${sha.slice(0, 16)}`,
    inputName: sidecar.inputName ?? 'image',
    outputs: sidecar.outputs,
    channels: sidecar.channels,
    strides: [4, 8, 16],
    normalization,
  };
  return { spec, onnx: bytes, onnxSha256: sha, defaultD: Math.min(100, sidecar.channels[0] + sidecar.channels[1] + sidecar.channels[2]) };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON of unknown shape, checked field by field below
function parseSidecar(v: any, where: string): OnnxSidecar {
  const bad = (what: string): never => {
    throw new Error(`${where}: ${what}`);
  };
  if (typeof v !== 'object' || v === null) bad('must be a JSON object');
  if (!Array.isArray(v.outputs) || v.outputs.length !== 3 || v.outputs.some((o: unknown) => typeof o !== 'string'))
    bad('"outputs" must name three outputs (strides 4, 8, 16)');
  if (!Array.isArray(v.channels) || v.channels.length !== 3 || v.channels.some((c: unknown) => !Number.isInteger(c) || (c as number) < 1))
    bad('"channels" must be three positive integers');
  const n = v.normalization;
  const ok =
    n === 'torchvision' ||
    n === 'keras-caffe' ||
    (typeof n === 'object' &&
      n !== null &&
      (n.channelOrder === 'rgb' || n.channelOrder === 'bgr') &&
      typeof n.scale === 'number' &&
      Array.isArray(n.mean) &&
      Array.isArray(n.std));
  if (!ok) bad('"normalization" must be "torchvision", "keras-caffe" or { channelOrder, scale, mean, std }');
  return v as OnnxSidecar;
}
