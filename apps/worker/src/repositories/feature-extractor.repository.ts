import {
  EmbeddingExtractor,
  ResolvedBackbone,
  RuntimeOptions,
  resolveBackbone,
  resolveEmbedding,
} from '@padim-fleet/inference';
import { DEFAULT_D, TrainingRequest } from '@padim-fleet/contracts';
import type { EmbeddingSelection } from '@padim-fleet/padim-core';

/**
 * Backbones and one warm embedding extractor per process: consecutive shards of the same run (or of
 * runs with the same backbone and embedding) reuse the onnxruntime session instead of rebuilding it.
 */
export class FeatureExtractorRepository {
  private readonly backbones = new Map<string, Promise<ResolvedBackbone>>();
  private current: { key: string; extractor: Promise<EmbeddingExtractor> } | null = null;

  constructor(
    private readonly runtime: RuntimeOptions,
    private readonly cacheDir?: string,
  ) {}

  backbone(name: string): Promise<ResolvedBackbone> {
    let found = this.backbones.get(name);
    if (!found) {
      found = resolveBackbone(name, { cacheDir: this.cacheDir });
      found.catch(() => this.backbones.delete(name));
      this.backbones.set(name, found);
    }
    return found;
  }

  async selection(request: TrainingRequest): Promise<{ backbone: ResolvedBackbone; selection: EmbeddingSelection }> {
    const backbone = await this.backbone(request.backbone);
    const selection = resolveEmbedding(backbone, { d: request.d ?? DEFAULT_D[request.backbone], seed: request.seed, kind: request.embedding });
    return { backbone, selection };
  }

  async extractor(request: TrainingRequest): Promise<EmbeddingExtractor> {
    const { backbone, selection } = await this.selection(request);
    const side = request.crop ?? request.size;
    const key = JSON.stringify([backbone.onnxSha256, selection, side]);
    if (this.current?.key !== key) {
      const previous = this.current;
      this.current = { key, extractor: EmbeddingExtractor.create(backbone, selection, side, this.runtime) };
      if (previous) await (await previous.extractor.catch(() => null))?.release();
    }
    try {
      return await this.current.extractor;
    } catch (error) {
      this.current = null;
      throw error;
    }
  }

  async release(): Promise<void> {
    const current = this.current;
    this.current = null;
    if (current) await (await current.extractor.catch(() => null))?.release();
  }
}
