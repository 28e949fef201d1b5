import {
  BlockedMahalanobisKernel,
  EmbeddingSelection,
  MahalanobisKernel,
  ModelManifest,
  createBlockedMahalanobisKernel,
  createMahalanobisKernel,
} from '@padim-fleet/padim-core';
import type { ResolvedBackbone } from '../backbones/resolve-backbone';
import { buildAnomalyMapGraph } from '../graphs/anomaly-map-graph';
import { buildMahalanobisGraph, unpackLowerTriangular } from '../graphs/mahalanobis-graph';
import type { ModelTensors } from '../model-io/model-folder';
import { factorLoadBlockBytes } from '../runtime/memory-need';
import { OnnxWorkerSession } from '../runtime/onnx-worker-session';
import { EmbeddingExtractor, RuntimeOptions, runtimeThreads } from './embedding-extractor';

/** Keep each block of unpacked L⁻¹ under this many bytes (d=550 needs 1.2 MB per position). */
const MAX_FACTOR_BLOCK_BYTES = 512 * 1024 * 1024;
/**
 * The wasm kernel up to a whole wasm32 memory: it holds the packed factors once (2.6 GB for resnet50
 * d=550), where the ONNX fallback holds them unpacked to d×d per position (5 GB).
 */
export const MAX_WHOLE_MODEL_KERNEL_BYTES = 2 ** 32;
export const ANOMALY_MAP_SIGMA = 4;
/** Largest backbone batch made by joining concurrent requests. */
export const MAX_COALESCED_IMAGES = 32;

/** Where a stored model's tensors come from, for PadimScorer.load: a registry version or a model folder. */
export interface ScorerModelSource {
  /**
   * A whole-model distance kernel with the factors streamed straight into it, `blockBytes` at a time;
   * null where the kernel cannot be made (no wasm SIMD, or more than `maxBytes`).
   */
  kernel(opts: { maxBytes: number; blockBytes: number }): Promise<MahalanobisKernel | null>;
  /** The model's tensors, read whole. */
  tensors(): Promise<ModelTensors>;
}

/** A range of positions with its own distance session, which holds that range's means and factors. */
interface FactorBlock {
  start: number;
  end: number;
  session: OnnxWorkerSession;
}

/**
 * Scores NCHW batches with a trained model: embeddings, Mahalanobis distance per patch, then bilinear
 * upsampling and a σ=4 Gaussian blur. On the CPU the distances come from the packed factors in a wasm
 * f32x4 kernel (half the flops of a dense MatMul, no unpacked copy); on CUDA, or where the factors do
 * not fit a wasm memory, from an onnxruntime MatMul over unpacked [P, d, d] factors. Asked for
 * (`distances: 'blocked'`), from the model's own tensors a block of positions at a time, in a bounded wasm
 * memory: nothing of the factors is copied whole, at the cost of laying out every block again on each
 * distances call (so callers give it many images at once: distancesOfBatches).
 */
export class PadimScorer {
  /** Backbone requests waiting for the one in flight; they go together as one batch. */
  private waiting: { batch: Float32Array; n: number; resolve: (emb: Float32Array) => void; reject: (error: unknown) => void }[] = [];
  /** Backbone calls in progress: at most one per backbone session. */
  private backboneRunning = 0;
  /** Backbone calls made (fewer than patchDistances calls when concurrent requests were batched together). */
  backboneCalls = 0;

  private constructor(
    readonly manifest: ModelManifest,
    readonly extractor: EmbeddingExtractor,
    private readonly blocks: FactorBlock[],
    private readonly kernel: MahalanobisKernel | null,
    private readonly blocked: BlockedMahalanobisKernel | null,
    private readonly mapSession: OnnxWorkerSession,
    private readonly ownsExtractor: boolean,
  ) {}

  /**
   * `shared.extractor`: an open extractor of the same backbone and embedding (e.g. the one that just
   * trained the model) to use instead of opening another; the scorer then leaves it open on release.
   * `shared.distances: 'onnx'` keeps the distances on onnxruntime on the CPU too (the CUDA path's graph);
   * `'blocked'` computes them on the CPU from `tensors` in place, by blocks of positions (any device; the
   * default path where WebAssembly SIMD is missing). The tensors must then stay unchanged until release.
   */
  static async create(
    manifest: ModelManifest,
    tensors: ModelTensors,
    backbone: ResolvedBackbone,
    runtime: RuntimeOptions = {},
    shared: { extractor?: EmbeddingExtractor; distances?: 'auto' | 'onnx' | 'blocked' } = {},
  ): Promise<PadimScorer> {
    return PadimScorer.open(manifest, backbone, runtime, shared.extractor, async (d, P, overlappedThreads) => {
      const blocked = shared.distances === 'blocked' ? createBlockedMahalanobisKernel(tensors.mean, tensors.invCholesky, d, P) : null;
      const kernel =
        blocked === null && (runtime.device ?? 'cpu') === 'cpu' && shared.distances !== 'onnx'
          ? createMahalanobisKernel(tensors.mean, tensors.invCholesky, d, P, { maxBytes: MAX_WHOLE_MODEL_KERNEL_BYTES })
          : null;
      const blocks = kernel === null && blocked === null ? await factorBlockSessions(tensors, d, P, runtime, overlappedThreads) : [];
      return { kernel, blocked, blocks };
    });
  }

  /**
   * A scorer for a stored model, as score workers and `padim score` open one: on the CPU the factors
   * stream from `source` into the distance kernel by blocks (factorLoadBlockBytes), so they never sit
   * whole beside it; with CUDA, or where that kernel cannot be made, the tensors are read whole for create.
   */
  static async load(manifest: ModelManifest, source: ScorerModelSource, backbone: ResolvedBackbone, runtime: RuntimeOptions = {}): Promise<PadimScorer> {
    const kernel =
      (runtime.device ?? 'cpu') === 'cpu'
        ? await source.kernel({ maxBytes: MAX_WHOLE_MODEL_KERNEL_BYTES, blockBytes: factorLoadBlockBytes(manifest.tensors.invCholesky.bytes) })
        : null;
    return kernel ? PadimScorer.fromKernel(manifest, kernel, backbone, runtime) : PadimScorer.create(manifest, await source.tensors(), backbone, runtime);
  }

  /**
   * A scorer over a whole-model kernel built elsewhere: one whose factors were streamed from storage
   * straight into its memory (createMahalanobisKernelLoader), so they never sat whole beside it.
   */
  static async fromKernel(manifest: ModelManifest, kernel: MahalanobisKernel, backbone: ResolvedBackbone, runtime: RuntimeOptions = {}): Promise<PadimScorer> {
    const P = manifest.grid.height * manifest.grid.width;
    if (kernel.dim !== manifest.embedding.d || kernel.positions !== P) {
      throw new Error(`the kernel holds d=${kernel.dim} × ${kernel.positions} positions, the model d=${manifest.embedding.d} × ${P}`);
    }
    return PadimScorer.open(manifest, backbone, runtime, undefined, async () => ({ kernel, blocked: null, blocks: [] }));
  }

  private static async open(
    manifest: ModelManifest,
    backbone: ResolvedBackbone,
    runtime: RuntimeOptions,
    sharedExtractor: EmbeddingExtractor | undefined,
    distances: (
      d: number,
      P: number,
      overlappedThreads: number,
    ) => Promise<{ kernel: MahalanobisKernel | null; blocked: BlockedMahalanobisKernel | null; blocks: FactorBlock[] }>,
  ): Promise<PadimScorer> {
    if (backbone.onnxSha256 !== manifest.backbone.onnxSha256) {
      throw new Error(
        `model was trained with backbone ${manifest.backbone.name} (graph ${manifest.backbone.onnxSha256.slice(0, 12)}…) but ${backbone.spec.name} (graph ${backbone.onnxSha256.slice(0, 12)}…) was given`,
      );
    }
    const side = manifest.input.crop ?? manifest.input.size;
    if (
      sharedExtractor &&
      (sharedExtractor.backbone.onnxSha256 !== backbone.onnxSha256 ||
        sharedExtractor.side !== side ||
        !sameSelection(sharedExtractor.selection, manifest.embedding))
    ) {
      throw new Error('the shared extractor does not run the backbone, input size and embedding of this model');
    }
    const extractor = sharedExtractor ?? (await EmbeddingExtractor.create(backbone, manifest.embedding, side, runtime));
    const d = manifest.embedding.d;
    const P = manifest.grid.height * manifest.grid.width;
    // Distances and maps of batch k run while the backbone runs batch k+1: half the threads each, so
    // their thread pools do not spin against each other (on 2 cores: 5 to 9 % more images/s, measured).
    const overlappedThreads = Math.max(1, Math.floor(runtimeThreads(runtime) / 2));
    const { kernel, blocked, blocks } = await distances(d, P, overlappedThreads);
    const mapSession = await OnnxWorkerSession.create(buildAnomalyMapGraph(manifest.grid, side, ANOMALY_MAP_SIGMA), {
      device: runtime.device,
      threads: overlappedThreads,
      memoryArena: false,
    });
    return new PadimScorer(manifest, extractor, blocks, kernel, blocked, mapSession, !sharedExtractor);
  }

  get side(): number {
    return this.extractor.side;
  }

  /** Batches worth keeping in flight at once (one per backbone session). */
  get lanes(): number {
    return this.extractor.lanes;
  }

  get positions(): number {
    return this.manifest.grid.height * this.manifest.grid.width;
  }

  /**
   * Patch distances [n, P] for n preprocessed images. Concurrent callers (requests for the same model)
   * that arrive while the backbone is busy are batched into its next call, up to MAX_COALESCED_IMAGES.
   */
  async patchDistances(batch: Float32Array, n: number): Promise<Float32Array> {
    return this.distancesFromEmbeddings(await this.embeddings(batch, n), n);
  }

  /** Embeddings [n, d, P] of n preprocessed images, batched with concurrent requests as patchDistances is. */
  embeddings(batch: Float32Array, n: number): Promise<Float32Array> {
    return new Promise<Float32Array>((resolve, reject) => {
      this.waiting.push({ batch, n, resolve, reject });
      this.runBackbone();
    });
  }

  /** Whether the distances come by blocks of positions (`distances: 'blocked'`): best given many images per call. */
  get distancesByPositionBlocks(): boolean {
    return this.blocked !== null;
  }

  /**
   * Starts backbone calls for waiting requests while a backbone session is free. Requests that arrive
   * while every session is busy wait and then go together as one batch.
   */
  private runBackbone(): void {
    const plane = 3 * this.side * this.side;
    const perImage = this.manifest.embedding.d * this.positions;
    while (this.waiting.length > 0 && this.backboneRunning < this.extractor.lanes) {
      const group = [this.waiting.shift()!];
      let images = group[0].n;
      while (this.waiting.length > 0 && images + this.waiting[0].n <= MAX_COALESCED_IMAGES) {
        images += this.waiting[0].n;
        group.push(this.waiting.shift()!);
      }
      // Joined requests are copied once, straight into the buffer sent to the backbone's thread.
      const input = group.length === 1 ? group[0].batch : group.map((r) => r.batch.subarray(0, r.n * plane));
      this.backboneCalls++;
      this.backboneRunning++;
      this.extractor
        .run(input, images)
        .then(
          (emb) => {
            let offset = 0;
            for (const r of group) {
              r.resolve(group.length === 1 ? emb : emb.subarray(offset * perImage, (offset + r.n) * perImage));
              offset += r.n;
            }
          },
          (error: unknown) => {
            for (const r of group) r.reject(error);
          },
        )
        .finally(() => {
          this.backboneRunning--;
          this.runBackbone();
        });
    }
  }

  /** Memory the distances hold besides the model's tensors: the kernel's, or onnxruntime's unpacked factors. */
  get distanceBytes(): number {
    const d = this.manifest.embedding.d;
    return this.blocked ? this.blocked.bytes : this.kernel ? this.kernel.bytes : this.positions * (d * d + d) * 4;
  }

  /** Patch distances [n, P] of each batch of embeddings; blocked distances lay out each block of factors once for all of them. */
  async distancesOfBatches(batches: readonly { data: Float32Array; n: number }[]): Promise<Float32Array[]> {
    if (this.blocked) return this.blocked.distances(batches);
    const out: Float32Array[] = [];
    for (const b of batches) out.push(await this.distancesFromEmbeddings(b.data, b.n));
    return out;
  }

  async distancesFromEmbeddings(emb: Float32Array, n: number): Promise<Float32Array> {
    const d = this.manifest.embedding.d;
    const P = this.positions;
    // About 2 ms per image for resnet18 d=100 on the calling thread (onnxruntime's MatMul: 9 to 11).
    if (this.kernel) return this.kernel.distances(emb.subarray(0, n * d * P), n);
    if (this.blocked) return this.blocked.distances([{ data: emb, n }])[0];
    if (this.blocks.length === 1) {
      const out = await this.blocks[0].session.run({ embedding: { data: emb, dims: [n, d, P] } });
      return out.distance.data as Float32Array;
    }
    const result = new Float32Array(n * P);
    for (const block of this.blocks) {
      const w = block.end - block.start;
      const slice = new Float32Array(n * d * w);
      for (let r = 0; r < n * d; r++) slice.set(emb.subarray(r * P + block.start, r * P + block.end), r * w);
      const out = await block.session.run({ embedding: { data: slice, dims: [n, d, w] } });
      const dist = out.distance.data as Float32Array;
      for (let i = 0; i < n; i++) result.set(dist.subarray(i * w, (i + 1) * w), i * P + block.start);
    }
    return result;
  }

  /** Anomaly maps [n, side·side] of n images' patch distances [n, P], computed by onnxruntime off the event loop. */
  async anomalyMaps(distances: Float32Array, n: number): Promise<Float32Array> {
    const out = await this.mapSession.run({ distance: { data: distances.subarray(0, n * this.positions), dims: [n, this.positions] } });
    return out.map.data as Float32Array;
  }

  async release(): Promise<void> {
    await Promise.all([this.ownsExtractor ? this.extractor.release() : undefined, this.mapSession.release(), ...this.blocks.map((b) => b.session.release())]);
  }
}

/** The onnxruntime fallback's distance sessions, each over a block of positions of unpacked factors. */
async function factorBlockSessions(tensors: ModelTensors, d: number, P: number, runtime: RuntimeOptions, threads: number): Promise<FactorBlock[]> {
  const T = (d * (d + 1)) / 2;
  const perBlock = Math.max(1, Math.min(P, Math.floor(MAX_FACTOR_BLOCK_BYTES / (d * d * 4))));
  const graph = buildMahalanobisGraph(d);
  const blocks: FactorBlock[] = [];
  for (let start = 0; start < P; start += perBlock) {
    const end = Math.min(P, start + perBlock);
    const n = end - start;
    const session = await OnnxWorkerSession.create(
      graph,
      { device: runtime.device, threads, memoryArena: false },
      {
        mean: { data: tensors.mean.slice(start * d, end * d), dims: [n, d, 1] },
        inv_cholesky: { data: unpackLowerTriangular(tensors.invCholesky.subarray(start * T, end * T), n, d), dims: [n, d, d] },
      },
    );
    blocks.push({ start, end, session });
  }
  return blocks;
}

function sameSelection(a: EmbeddingSelection, b: EmbeddingSelection): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function maxOf(values: Float32Array): { value: number; index: number } {
  let value = -Infinity;
  let index = -1;
  for (let i = 0; i < values.length; i++) {
    if (values[i] > value) {
      value = values[i];
      index = i;
    }
  }
  return { value, index };
}
