import { availableParallelism } from 'node:os';
import { EmbeddingSelection, featureCount, randomChannelSelection, semiOrthogonalProjection, validateChannelIndices } from '@padim-fleet/padim-core';
import type { ResolvedBackbone } from '../backbones/resolve-backbone';
import { appendEmbeddingHead } from '../graphs/embedding-graph';
import { OnnxDevice } from '../runtime/onnx-session';
import { OnnxWorkerSession } from '../runtime/onnx-worker-session';

export interface EmbeddingRequest {
  d?: number;
  /** Random channel selection seed (Python's random.sample, as anomalib and the paper). @defaultValue 42 */
  seed?: number;
  /** An explicit channel list instead of a seed. */
  indices?: number[];
  /** 'random' selects channels; 'semi-orthogonal' projects with W from the QR of a seeded Gaussian (Kim et al. 2021). */
  kind?: 'random' | 'semi-orthogonal';
}

export interface RuntimeOptions {
  device?: OnnxDevice;
  /** onnxruntime intra-op threads. @defaultValue os.availableParallelism() */
  threads?: number;
}

export function runtimeThreads(runtime: RuntimeOptions): number {
  return runtime.threads ?? availableParallelism();
}

/** Resolves the embedding request against a backbone into the selection stored in the model. */
export function resolveEmbedding(backbone: ResolvedBackbone, req: EmbeddingRequest): EmbeddingSelection {
  const F = featureCount(backbone.spec);
  const kind = req.kind ?? 'random';
  if (req.indices) {
    if (kind !== 'random') throw new Error('explicit channel indices apply to the random selection only');
    validateChannelIndices(req.indices, F);
    if (req.d !== undefined && req.d !== req.indices.length) throw new Error(`d=${req.d} but ${req.indices.length} channel indices were given`);
    return { kind: 'random', d: req.indices.length, seed: null, indices: [...req.indices] };
  }
  const d = req.d ?? backbone.defaultD;
  if (!Number.isInteger(d) || d < 1 || d > F) throw new Error(`d must be an integer in 1..${F} for ${backbone.spec.name}, got ${d}`);
  const seed = req.seed ?? 42;
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative integer, got ${seed}`);
  if (kind === 'semi-orthogonal') return { kind, d, seed };
  return { kind: 'random', d, seed, indices: randomChannelSelection(seed, F, d) };
}

/** Runs backbone + embedding head: an NCHW batch in, [n, d, H/4 · W/4] embeddings out. */
export class EmbeddingExtractor {
  private constructor(
    private readonly session: OnnxWorkerSession,
    readonly backbone: ResolvedBackbone,
    readonly selection: EmbeddingSelection,
    readonly side: number,
  ) {}

  static async create(backbone: ResolvedBackbone, selection: EmbeddingSelection, side: number, runtime: RuntimeOptions = {}): Promise<EmbeddingExtractor> {
    const F = featureCount(backbone.spec);
    const head =
      selection.kind === 'random'
        ? ({ kind: 'indices', indices: selection.indices } as const)
        : ({ kind: 'projection', matrix: semiOrthogonalProjection(F, selection.d, selection.seed), d: selection.d } as const);
    const graph = appendEmbeddingHead(backbone.onnx, backbone.spec, head);
    const session = await OnnxWorkerSession.create(graph, { device: runtime.device, threads: runtimeThreads(runtime) });
    return new EmbeddingExtractor(session, backbone, selection, side);
  }

  get d(): number {
    return this.selection.d;
  }

  get grid(): { height: number; width: number } {
    const stride = this.backbone.spec.strides[0];
    return { height: Math.ceil(this.side / stride), width: Math.ceil(this.side / stride) };
  }

  /** `batch` holds at least n images of 3×side×side; returns n×d×P floats. */
  async run(batch: Float32Array, n: number): Promise<Float32Array> {
    const plane = 3 * this.side * this.side;
    const out = await this.session.run({ [this.backbone.spec.inputName]: { data: batch.subarray(0, n * plane), dims: [n, 3, this.side, this.side] } });
    const emb = out.embedding;
    const [, d, h, w] = emb.dims;
    if (d !== this.d || h !== this.grid.height || w !== this.grid.width) {
      throw new Error(`backbone ${this.backbone.spec.name} gave embeddings [${emb.dims.join(', ')}], expected [${n}, ${this.d}, ${this.grid.height}, ${this.grid.width}]`);
    }
    return emb.data as Float32Array;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
