/**
 * Serialises the changes to a category's pointer: a promote and a delete of the same version must
 * not both pass their checks (one sees the manifest, the other sees it is not current) and then both
 * write, leaving current.json naming a deleted version.
 */
export interface RegistryLock {
  /** Runs `fn` while no other holder of this lock works on `category`; releases it however `fn` ends. */
  withLock<T>(category: string, fn: () => Promise<T>): Promise<T>;
}

/**
 * A lock within this process only: enough for one process that writes the registry (the CLI); the
 * fleet's processes share a Redis lock instead (RedisRegistryLock in libs/fleet).
 */
export class InProcessRegistryLock implements RegistryLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  async withLock<T>(category: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(category) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.tails.set(category, tail);
    try {
      return await run;
    } finally {
      if (this.tails.get(category) === tail) this.tails.delete(category);
    }
  }
}
