import * as path from 'node:path';
import {
  BackboneOptions,
  EmbeddingRequest,
  OnnxDevice,
  ResolvedBackbone,
  RuntimeOptions,
  resolveBackbone,
} from '@padim-fleet/inference';
import { choice, intList, intOption } from './args';

export const MODEL_OPTIONS = {
  backbone: { type: 'string', default: 'resnet18' },
  d: { type: 'string' },
  seed: { type: 'string' },
  indices: { type: 'string' },
  embedding: { type: 'string' },
  size: { type: 'string' },
  crop: { type: 'string' },
  'resnet18-dir': { type: 'string' },
  'cache-dir': { type: 'string' },
} as const;

export const RUNTIME_OPTIONS = {
  device: { type: 'string' },
  threads: { type: 'string' },
  'backbone-sessions': { type: 'string' },
  batch: { type: 'string' },
} as const;

type Values = Record<string, string | boolean | undefined>;

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
