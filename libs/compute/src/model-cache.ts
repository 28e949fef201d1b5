/** A loaded model as the cache holds it: its size counts against the budget; release frees it. */
export interface CachedModel<T> {
  value: T;
  bytes: number;
  release(): Promise<void>;
}

export interface ModelLease<T> {
  value: T;
  key: string;
  /** Must be called when the caller is done; an entry in use is never evicted. */
  done(): void;
}

interface Entry<T> {
  key: string;
  loading: Promise<CachedModel<T>>;
  loaded?: CachedModel<T>;
  users: number;
  lastUsed: number;
}

/**
 * Loaded models by key (category/version), least recently used out when the loaded bytes exceed the
 * budget. Entries in use stay, so the cache may go over budget while every entry is busy; concurrent
 * requests for one key share one load. Keys name exact versions, so promoting another version
 * takes effect on the next lookup of `current` without a restart.
 */
export class ModelCache<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private clock = 0;
  loads = 0;

  /** `onLookup` hears of every acquire: a hit when the model was loaded or loading, a miss when it is loaded now (metrics). */
  constructor(
    private readonly budgetBytes: number,
    private readonly load: (key: string) => Promise<CachedModel<T>>,
    private readonly onLookup: (hit: boolean) => void = () => undefined,
  ) {}

  async acquire(key: string): Promise<ModelLease<T>> {
    let entry = this.entries.get(key);
    this.onLookup(entry !== undefined);
    if (!entry) {
      this.loads++;
      const created: Entry<T> = { key, loading: this.load(key), users: 0, lastUsed: 0 };
      entry = created;
      this.entries.set(key, created);
      created.loading.then(
        (loaded) => {
          created.loaded = loaded;
          void this.evict();
        },
        () => {
          if (this.entries.get(key) === created) this.entries.delete(key);
        },
      );
    }
    entry.users++;
    entry.lastUsed = ++this.clock;
    let loaded: CachedModel<T>;
    try {
      loaded = await entry.loading;
    } catch (error) {
      entry.users--;
      throw error;
    }
    const held = entry;
    let released = false;
    return {
      value: loaded.value,
      key,
      done: () => {
        if (released) return;
        released = true;
        held.users--;
        held.lastUsed = ++this.clock;
        void this.evict();
      },
    };
  }

  get loadedBytes(): number {
    let total = 0;
    for (const e of this.entries.values()) total += e.loaded?.bytes ?? 0;
    return total;
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  /** Drops least recently used idle entries until the loaded bytes fit the budget. */
  private async evict(): Promise<void> {
    const idle = [...this.entries.values()].filter((e) => e.loaded && e.users === 0).sort((a, b) => a.lastUsed - b.lastUsed);
    let total = this.loadedBytes;
    for (const e of idle) {
      if (total <= this.budgetBytes) break;
      this.entries.delete(e.key);
      total -= e.loaded!.bytes;
      await e.loaded!.release();
    }
  }

  async clear(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map(async (e) => (await e.loading.catch(() => null))?.release()));
  }
}
