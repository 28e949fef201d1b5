import * as os from 'node:os';
import * as path from 'node:path';
import {
  BackboneOptions,
  COMOMENT_PATHS,
  ComomentPath,
  DEFAULT_IMAGE_SIZE,
  EmbeddingRequest,
  OnnxDevice,
  ResolvedBackbone,
  RuntimeOptions,
  assertMemoryFits,
  gigabytes,
  memoryNeed,
  resolveBackbone,
  resolveEmbedding,
} from '@padim-fleet/inference';
import { patchGrid } from '@padim-fleet/padim-core';
import { OptionSpecs, choice, intList, intOption } from './args';

export const MODEL_OPTIONS = {
  backbone: {
    type: 'string',
    default: 'resnet18',
    value: 'resnet18|resnet50|file.onnx',
    description: 'the feature extractor (an ONNX file needs a sidecar <name>.json)',
  },
  d: { type: 'string', value: 'n', description: 'channels kept per patch (default 100 for resnet18, 550 for resnet50)' },
  seed: { type: 'string', value: 'n', description: 'seed of the random channel selection or projection (default 42)' },
  indices: { type: 'string', value: 'a,b,c', description: 'the channels to keep, instead of a seeded selection' },
  embedding: { type: 'string', value: 'random|semi-orthogonal', description: 'channel selection (default random)' },
  size: { type: 'string', value: 'px', description: 'images are resized to size×size (default 256)' },
  crop: { type: 'string', value: 'px', description: 'then centre-cropped to crop×crop (default: no crop)' },
  'resnet18-dir': {
    type: 'string',
    value: 'dir',
    description: 'folder of the resnet18 .npy weights (default PADIM_RESNET18_DIR, else the weights shipped in libs/inference/assets)',
  },
  'cache-dir': { type: 'string', value: 'dir', description: 'where converted backbones are cached (default PADIM_CACHE_DIR, else .cache)' },
} as const satisfies OptionSpecs;

export const RUNTIME_OPTIONS = {
  device: { type: 'string', value: 'cpu|cuda', description: 'where the backbone runs (default cpu)' },
  threads: { type: 'string', value: 'n', description: 'threads for onnxruntime (default: the CPU cores)' },
  'backbone-sessions': { type: 'string', value: 'n', description: 'backbone sessions run side by side, sharing the threads (default 2 on the CPU)' },
  batch: {
    type: 'string',
    value: 'n',
    description: 'images per backbone batch (default 8; training: 4 once the float64 accumulator reaches 2 GB, as resnet50 d=550)',
  },
} as const satisfies OptionSpecs;

/** How training sums the co-moments (train and eval, which trains). */
export const ACCUMULATE_OPTIONS = {
  accumulate: {
    type: 'string',
    value: 'in-graph|gram|float64',
    description:
      "how co-moments are summed: in-graph (in the backbone's graph, on its device; default with --device cuda), or on the host: gram or float64 (default on the CPU: gram where its group holds 128 images or more, as at d=100 and 256×256; float64 otherwise, as at d=550)",
  },
  'accumulate-group': { type: 'string', value: 'n', description: 'images per backbone run with --accumulate in-graph (default 64): they bound its memory' },
} as const satisfies OptionSpecs;

type Values = Record<string, string | boolean | undefined>;

export function accumulateFrom(values: Values): { comoments?: ComomentPath; groupImages?: number } {
  return {
    comoments: choice<ComomentPath>(values.accumulate as string | undefined, 'accumulate', COMOMENT_PATHS),
    groupImages: intOption(values['accumulate-group'] as string | undefined, 'accumulate-group'),
  };
}

export function runtimeFrom(values: Values): RuntimeOptions & { batchSize?: number } {
  return {
    device: choice<OnnxDevice>(values.device as string | undefined, 'device', ['cpu', 'cuda']),
    threads: intOption(values.threads as string | undefined, 'threads'),
    backboneSessions: intOption(values['backbone-sessions'] as string | undefined, 'backbone-sessions'),
    batchSize: intOption(values.batch as string | undefined, 'batch'),
  };
}

export function backboneOptionsFrom(values: Values): BackboneOptions {
  return {
    resnet18Dir: values['resnet18-dir'] ? path.resolve(values['resnet18-dir'] as string) : undefined,
    cacheDir: values['cache-dir'] ? path.resolve(values['cache-dir'] as string) : undefined,
  };
}

export function embeddingFrom(values: Values): EmbeddingRequest {
  return {
    d: intOption(values.d as string | undefined, 'd'),
    seed: intOption(values.seed as string | undefined, 'seed', 0),
    indices: intList(values.indices as string | undefined, 'indices'),
    kind: choice(values.embedding as string | undefined, 'embedding', ['random', 'semi-orthogonal'] as const),
  };
}

export function inputFrom(values: Values): { size?: number; crop?: number | null } {
  const size = intOption(values.size as string | undefined, 'size', 32);
  const crop = intOption(values.crop as string | undefined, 'crop', 32);
  if (crop !== undefined && crop > (size ?? 256)) throw new Error(`--crop ${crop} is larger than --size ${size ?? 256}`);
  return { size, crop: crop ?? null };
}

export async function loadBackbone(values: Values): Promise<ResolvedBackbone> {
  return resolveBackbone(values.backbone as string, backboneOptionsFrom(values));
}

/**
 * Says up front when this machine cannot hold the training (the accumulator and the backbone's working
 * memory, see memoryNeed) rather than being killed by the kernel minutes in: throws above the total
 * memory, and returns a warning line above what is free now.
 */
export function checkTrainingMemory(
  backbone: ResolvedBackbone,
  values: Values,
  machine = { totalBytes: os.totalmem(), freeBytes: os.freemem() },
): string | null {
  const { d } = resolveEmbedding(backbone, embeddingFrom(values));
  const { size, crop } = inputFrom(values);
  const side = crop ?? size ?? DEFAULT_IMAGE_SIZE;
  const grid = patchGrid(backbone.spec, side);
  const positions = grid.height * grid.width;
  const { comoments } = accumulateFrom(values);
  const { device } = runtimeFrom(values);
  const need = memoryNeed({ role: 'train', backbone: backbone.spec.name, positions, d, device, comoments });
  assertMemoryFits('training', need, machine.totalBytes, "this machine's memory");
  if (need.bytes <= machine.freeBytes) return null;
  return `warning: training needs about ${gigabytes(need.bytes)} of memory (${need.parts}), ${gigabytes(machine.freeBytes)} is free now\n`;
}
