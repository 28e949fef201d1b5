import { EmbeddingExtractor, ResolvedBackbone, RuntimeOptions, resolveBackbone, resolveEmbedding } from '@padim-fleet/inference';
import { DEFAULT_D, TrainingRequest } from '@padim-fleet/contracts';
import type { EmbeddingSelection } from '@padim-fleet/padim-core';

/** An extractor lent to one job; give it back with `release` when the job is done with it. */
export interface ExtractorLease {
  extractor: EmbeddingExtractor;
  release(): Promise<void>;
}

interface ExtractorEntry {
  key: string;
  extractor: Promise<EmbeddingExtractor>;
  users: number;
}

/**
 * Backbones, and warm embedding extractors lent to jobs: consecutive shards of the same run (or of runs
 * with the same backbone and embedding), and the run's reducer scoring its held-out images, reuse one
 * onnxruntime session instead of rebuilding it. The most recently asked-for extractor stays open when
 * idle; another is closed when its last borrower gives it back, never under a job still using it.
 */
export class FeatureExtractorRepository {
  private readonly backbones = new Map<string, Promise<ResolvedBackbone>>();
  private readonly entries = new Map<string, ExtractorEntry>();
  private currentKey: string | null = null;

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

  async acquire(request: TrainingRequest): Promise<ExtractorLease> {
    const { backbone, selection } = await this.selection(request);
    const side = request.crop ?? request.size;
    const key = JSON.stringify([backbone.onnxSha256, selection, side]);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { key, extractor: EmbeddingExtractor.create(backbone, selection, side, this.runtime), users: 0 };
      this.entries.set(key, entry);
    }
    entry.users++;
    const previous = this.currentKey;
    this.currentKey = key;
    if (previous !== null && previous !== key) await this.closeIfIdle(previous);
    let extractor: EmbeddingExtractor;
    try {
      extractor = await entry.extractor;
    } catch (error) {
      entry.users--;
      if (this.entries.get(key) === entry) this.entries.delete(key);
      throw error;
    }
    let returned = false;
    return {
      extractor,
      release: async () => {
        if (returned) return;
        returned = true;
        entry.users--;
        if (this.currentKey !== key) await this.closeIfIdle(key);
      },
    };
  }

  private async closeIfIdle(key: string): Promise<void> {
    const entry = this.entries.get(key);
    if (!entry || entry.users > 0) return;
    this.entries.delete(key);
    await (await entry.extractor.catch(() => null))?.release();
  }

  async release(): Promise<void> {
    const entries = [...this.entries.values()];
    this.entries.clear();
    this.currentKey = null;
    await Promise.all(entries.map(async (e) => (await e.extractor.catch(() => null))?.release()));
  }
}
