import { availableParallelism } from 'node:os';
import { EmbeddingSelection, featureCount, patchGrid, randomChannelSelection, semiOrthogonalProjection, validateChannelIndices } from '@padim-fleet/padim-core';
import type { ResolvedBackbone } from '../backbones/resolve-backbone';
import { appendEmbeddingHead, type ChannelSelection } from '../graphs/embedding-graph';
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
  /** onnxruntime intra-op threads, in all. @defaultValue os.availableParallelism() */
  threads?: number;
  /**
   * Backbone sessions that run batches side by side, the threads shared among them. On the CPU two
   * sessions of half the threads each outrun one with all of them: a pass has phases that one thread
   * cannot split (small late layers, the embedding head), and the decode and accumulation of other
   * batches fill the gaps one session leaves. @defaultValue 2 on the CPU with 2 or more threads, else 1
   */
  backboneSessions?: number;
}

/** How many backbone sessions a runtime opens, and the intra-op threads of each. */
export function backboneLanes(runtime: RuntimeOptions): { sessions: number; threadsEach: number } {
  const threads = runtimeThreads(runtime);
  const fallback = (runtime.device ?? 'cpu') === 'cpu' && threads >= 2 ? 2 : 1;
  const sessions = runtime.backboneSessions ?? fallback;
  if (!Number.isInteger(sessions) || sessions < 1) throw new Error(`backboneSessions must be a positive integer, got ${sessions}`);
  return { sessions, threadsEach: Math.max(1, Math.floor(threads / sessions)) };
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

/** The embedding head's channel selection for a model's embedding: its indices, or its seeded projection of the F channels. */
export function channelSelectionOf(selection: EmbeddingSelection, F: number): ChannelSelection {
  return selection.kind === 'random'
    ? { kind: 'indices', indices: selection.indices }
    : { kind: 'projection', matrix: semiOrthogonalProjection(F, selection.d, selection.seed), d: selection.d };
}

/** Runs backbone + embedding head: an NCHW batch in, [n, d, H/4 · W/4] embeddings out. */
export class EmbeddingExtractor {
  /** Runs queued or in progress on each session. */
  private readonly queued: number[];

  private constructor(
    private readonly sessions: OnnxWorkerSession[],
    readonly backbone: ResolvedBackbone,
    readonly selection: EmbeddingSelection,
    readonly side: number,
  ) {
    this.queued = sessions.map(() => 0);
  }

  static async create(backbone: ResolvedBackbone, selection: EmbeddingSelection, side: number, runtime: RuntimeOptions = {}): Promise<EmbeddingExtractor> {
    const graph = appendEmbeddingHead(backbone.onnx, backbone.spec, channelSelectionOf(selection, featureCount(backbone.spec)));
    const lanes = backboneLanes(runtime);
    const sessions: OnnxWorkerSession[] = [];
    try {
      for (let i = 0; i < lanes.sessions; i++) sessions.push(await OnnxWorkerSession.create(graph, { device: runtime.device, threads: lanes.threadsEach }));
    } catch (e) {
      await Promise.all(sessions.map((s) => s.release()));
      throw e;
    }
    return new EmbeddingExtractor(sessions, backbone, selection, side);
  }

  /** Batches worth keeping in flight at once: one per session. */
  get lanes(): number {
    return this.sessions.length;
  }

  get d(): number {
    return this.selection.d;
  }

  get grid(): { height: number; width: number } {
    return patchGrid(this.backbone.spec, this.side);
  }

  /**
   * `batch` holds at least n images of 3×side×side, or is a list of batches that hold exactly n in all
   * (joined as they are copied to the backbone's thread); returns n×d×P floats.
   */
  async run(batch: Float32Array | Float32Array[], n: number): Promise<Float32Array> {
    const plane = 3 * this.side * this.side;
    const data = Array.isArray(batch) ? batch : batch.subarray(0, n * plane);
    if (Array.isArray(batch) && batch.reduce((sum, b) => sum + b.length, 0) !== n * plane) {
      throw new Error(`the batches given hold ${batch.reduce((sum, b) => sum + b.length, 0)} floats, expected ${n} images of 3×${this.side}×${this.side}`);
    }
    let lane = 0;
    for (let i = 1; i < this.queued.length; i++) if (this.queued[i] < this.queued[lane]) lane = i;
    this.queued[lane]++;
    const out = await this.sessions[lane]
      .run({ [this.backbone.spec.inputName]: { data, dims: [n, 3, this.side, this.side] } })
      .finally(() => this.queued[lane]--);
    const emb = out.embedding;
    const [, d, h, w] = emb.dims;
    if (d !== this.d || h !== this.grid.height || w !== this.grid.width) {
      throw new Error(
        `backbone ${this.backbone.spec.name} gave embeddings [${emb.dims.join(', ')}], expected [${n}, ${this.d}, ${this.grid.height}, ${this.grid.width}]`,
      );
    }
    return emb.data as Float32Array;
  }

  async release(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.release()));
  }
}
