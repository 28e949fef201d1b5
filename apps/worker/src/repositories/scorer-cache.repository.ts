import { ModelCache, ModelLease } from '@padim-fleet/compute';
import { loadRegistryKernel, loadRegistryModel, resolveModelVersion } from '@padim-fleet/fleet';
import { PadimScorer, RuntimeOptions, resolveBackbone } from '@padim-fleet/inference';
import { parseModelManifest } from '@padim-fleet/padim-core';
import type { ModelRegistry } from '@padim-fleet/storage';

/**
 * Besides the distances' copy of the model (scorer.distanceBytes), the backbone: its weights and working
 * memory per session (about 90 MB each for ResNet-18 at batch 8, measured).
 */
const BACKBONE_SESSION_BYTES = 96 * 1024 ** 2;

export interface ScorerLease extends ModelLease<PadimScorer> {
  category: string;
  version: string;
}

/**
 * Scorers for published models, cached by exact version within a memory budget (least recently used
 * out). `version: null` resolves the category's current version on every request, so a promotion
 * takes effect at once.
 */
export class ScorerCacheRepository {
  private readonly cache: ModelCache<PadimScorer>;

  constructor(
    private readonly registry: ModelRegistry,
    runtime: RuntimeOptions,
    budgetBytes: number,
    cacheDir?: string,
    onLookup?: (hit: boolean) => void,
  ) {
    this.cache = new ModelCache(
      budgetBytes,
      async (key) => {
        const [category, version] = key.split('/');
        const manifest = parseModelManifest(await this.registry.readManifest(category, version));
        const backbone = await resolveBackbone(manifest.backbone.name, { cacheDir });
        const scorer = await PadimScorer.load(
          manifest,
          {
            kernel: (opts) => loadRegistryKernel(this.registry, category, version, manifest, opts),
            tensors: async () => (await loadRegistryModel(this.registry, category, version)).tensors,
          },
          backbone,
          runtime,
        );
        const bytes = scorer.distanceBytes + scorer.lanes * BACKBONE_SESSION_BYTES;
        return { value: scorer, bytes, release: () => scorer.release() };
      },
      onLookup,
    );
  }

  async acquire(category: string, version: string | null): Promise<ScorerLease> {
    const resolved = await resolveModelVersion(this.registry, category, version);
    const lease = await this.cache.acquire(`${category}/${resolved}`);
    return { ...lease, category, version: resolved };
  }

  /** Bytes of the models loaded now. */
  get loadedBytes(): number {
    return this.cache.loadedBytes;
  }

  clear(): Promise<void> {
    return this.cache.clear();
  }
}
