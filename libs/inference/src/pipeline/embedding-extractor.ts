import { availableParallelism } from 'node:os';
import { EmbeddingSelection, featureCount, patchGrid, randomChannelSelection, semiOrthogonalProjection, validateChannelIndices } from '@padim-fleet/padim-core';
import type { ResolvedBackbone } from '../backbones/resolve-backbone';
import { appendEmbeddingHead, type ChannelSelection } from '../graphs/embedding-graph';
import { GROUP_COMOMENT_OUTPUT, GROUP_MEAN_OUTPUT, appendGroupStatistics } from '../graphs/group-statistics-graph';
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

/** One group of images as the in-graph accumulation gives it: their count, mean and packed co-moment per position. */
export interface GroupStatistics {
  n: number;
  /** [positions, d] */
  mean: Float32Array;
  /** [positions, d(d+1)/2], each position's Σ(x − x̄)(x − x̄)ᵀ as its packed upper triangle. */
  comoment: Float32Array;
}

/**
 * Runs backbone + embedding head: an NCHW batch in, [n, d, H/4 · W/4] embeddings out; or, for training,
 * backbone + embedding head + the batch's group statistics in one graph (groupStatistics).
 */
export class EmbeddingExtractor {
  /** Runs queued or in progress on each session. */
  private readonly queued: number[];
  /** The group-statistics sessions, opened on first use (scoring never needs them), and their runs queued. */
  private groupSessions?: Promise<OnnxWorkerSession[]>;
  private groupQueued: number[] = [];

  private constructor(
    private readonly sessions: OnnxWorkerSession[],
    readonly backbone: ResolvedBackbone,
    readonly selection: EmbeddingSelection,
    readonly side: number,
    private readonly runtime: RuntimeOptions,
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
    return new EmbeddingExtractor(sessions, backbone, selection, side, runtime);
  }

  /** Where the backbone runs. */
  get device(): OnnxDevice {
    return this.runtime.device ?? 'cpu';
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

  /**
   * Runs backbone + embedding head + group statistics on n images (layout as in `run`), as one group:
   * only their mean and packed co-moment per position come back, not the n×d×P embeddings.
   */
  async groupStatistics(batch: Float32Array | Float32Array[], n: number): Promise<GroupStatistics> {
    const sessions = await (this.groupSessions ??= this.openGroupSessions());
    const plane = 3 * this.side * this.side;
    const data = Array.isArray(batch) ? batch : batch.subarray(0, n * plane);
    let lane = 0;
    for (let i = 1; i < this.groupQueued.length; i++) if (this.groupQueued[i] < this.groupQueued[lane]) lane = i;
    this.groupQueued[lane]++;
    const out = await sessions[lane]
      .run({ [this.backbone.spec.inputName]: { data, dims: [n, 3, this.side, this.side] } })
      .finally(() => this.groupQueued[lane]--);
    const P = this.grid.height * this.grid.width;
    const mean = out[GROUP_MEAN_OUTPUT];
    const comoment = out[GROUP_COMOMENT_OUTPUT];
    const T = (this.d * (this.d + 1)) / 2;
    if (mean.data.length !== P * this.d || comoment.data.length !== P * T) {
      throw new Error(
        `backbone ${this.backbone.spec.name} gave group statistics [${mean.dims.join(', ')}] and [${comoment.dims.join(', ')}], expected [${P}, ${this.d}] and [${P}, ${T}]`,
      );
    }
    return { n, mean: mean.data as Float32Array, comoment: comoment.data as Float32Array };
  }

  /** As many group-statistics sessions as backbone sessions, with the same device and threads. */
  private async openGroupSessions(): Promise<OnnxWorkerSession[]> {
    const embedding = appendEmbeddingHead(this.backbone.onnx, this.backbone.spec, channelSelectionOf(this.selection, featureCount(this.backbone.spec)));
    const graph = appendGroupStatistics(embedding, this.d);
    const lanes = backboneLanes(this.runtime);
    const sessions: OnnxWorkerSession[] = [];
    try {
      for (let i = 0; i < lanes.sessions; i++)
        sessions.push(await OnnxWorkerSession.create(graph, { device: this.runtime.device, threads: lanes.threadsEach }));
    } catch (e) {
      await Promise.all(sessions.map((s) => s.release()));
      throw e;
    }
    this.groupQueued = sessions.map(() => 0);
    return sessions;
  }

  async release(): Promise<void> {
    const groupSessions = this.groupSessions?.catch(() => [] as OnnxWorkerSession[]);
    this.groupSessions = undefined;
    await Promise.all([...this.sessions.map((s) => s.release()), groupSessions?.then((all) => Promise.all(all.map((s) => s.release())))]);
  }
}
