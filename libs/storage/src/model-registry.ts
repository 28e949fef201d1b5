import { createHash } from 'node:crypto';
import { MANIFEST_FILE } from '@padim-fleet/padim-core';
import { BlobNotFoundError, isReadableStream, type BlobStore, type ByteRange } from './blob-store';
import { pipeInto, sha256Hex, sha256Stream } from './hashing';
import { InvalidKeyError, modelCategoryPrefix, modelCurrentKey, modelsRoot, modelVersionPrefix, validateCategory, validateKey, validateVersion } from './keys';
import { ModelConflictError, ModelIntegrityError, ModelNotFoundError, type ArtifactFingerprint } from './model-errors';
import { InProcessRegistryLock, type RegistryLock } from './registry-lock';

/** Folder of a version's evaluation report (report.html and its PNGs), written with a version fitted on a validation set. */
export const REPORT_FOLDER = 'report';

export interface WrittenArtifact {
  key: string;
  bytes: number;
  sha256: string;
}

export interface CurrentPointer {
  version: string;
  updatedAt: string;
}

/** Orders versions with digit runs compared as numbers ("v2" < "v10"), the rest by character code. */
export function compareVersions(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i];
    const y = pb[i];
    if (x === y) continue;
    const xDigits = /^\d/.test(x);
    const yDigits = /^\d/.test(y);
    if (xDigits && yDigits) {
      const xs = x.replace(/^0+(?=\d)/, '');
      const ys = y.replace(/^0+(?=\d)/, '');
      if (xs.length !== ys.length) return xs.length - ys.length;
      if (xs !== ys) return xs < ys ? -1 : 1;
      return x.length - y.length;
    }
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Models in a blob store: `models/<category>/<version>/<artifact>`, `manifest.json` beside them and
 * `models/<category>/current.json` naming the version in use. A version exists only once its
 * manifest exists; writers put the artifacts first, then the manifest, then current.json, so a
 * reader never sees half a model. The manifest's content is the caller's business (any JSON).
 *
 * Moving current.json and deleting a version hold the category's lock, so a promote and a delete of
 * the same version never both succeed. Without `lock` it is a lock within this process; processes
 * that write one registry together must share one (RedisRegistryLock).
 */
export class ModelRegistry {
  private readonly lock: RegistryLock;

  constructor(
    readonly store: BlobStore,
    opts: { lock?: RegistryLock } = {},
  ) {
    this.lock = opts.lock ?? new InProcessRegistryLock();
  }

  private artifactKey(category: string, version: string, name: string): string {
    validateKey(name, 'artifact name');
    return modelVersionPrefix(category, version) + name;
  }

  private manifestKey(category: string, version: string): string {
    return modelVersionPrefix(category, version) + MANIFEST_FILE;
  }

  private notFound(category: string, version: string, artifact: string | undefined, err: unknown): unknown {
    return err instanceof BlobNotFoundError ? new ModelNotFoundError(category, version, artifact, this.store.location) : err;
  }

  /** Stores one artifact, hashing it while it streams; the manifest goes through writeManifest. */
  async writeArtifact(category: string, version: string, name: string, body: Uint8Array | NodeJS.ReadableStream): Promise<WrittenArtifact> {
    const key = this.artifactKey(category, version, name);
    if (name === MANIFEST_FILE) throw new InvalidKeyError(`artifact name "${name}": reserved, use writeManifest`);
    return putHashed(this.store, key, body);
  }

  /**
   * Stores a blob already in the store (e.g. a run's partial) as an artifact, copied server-side.
   * `source.sha256` and `bytes` describe it (the caller hashed it as it made it); the size is checked.
   */
  async copyArtifact(category: string, version: string, name: string, source: { key: string; sha256: string; bytes: number }): Promise<WrittenArtifact> {
    const key = this.artifactKey(category, version, name);
    if (name === MANIFEST_FILE) throw new InvalidKeyError(`artifact name "${name}": reserved, use writeManifest`);
    const { size } = await this.store.copy(source.key, key);
    if (size !== source.bytes) throw new Error(`copying ${source.key} to ${key} in ${this.store.location}: ${size} bytes, expected ${source.bytes}`);
    return { key, bytes: size, sha256: source.sha256 };
  }

  /** Writes manifest.json (after every artifact: it is what makes the version exist). */
  async writeManifest(category: string, version: string, manifest: object): Promise<WrittenArtifact> {
    const key = this.manifestKey(category, version);
    const text = `${JSON.stringify(manifest, null, 2)}\n`;
    const { size } = await this.store.put(key, text, { contentType: 'application/json' });
    return { key, bytes: size, sha256: sha256Hex(text) };
  }

  async readManifest(category: string, version: string): Promise<unknown> {
    const key = this.manifestKey(category, version);
    let raw: Buffer;
    try {
      raw = await this.store.get(key);
    } catch (err) {
      throw this.notFound(category, version, undefined, err);
    }
    try {
      return JSON.parse(raw.toString('utf8')) as unknown;
    } catch (err) {
      throw new ModelIntegrityError(category, version, MANIFEST_FILE, 'valid JSON', `unparsable JSON (${(err as Error).message})`, this.store.location);
    }
  }

  async hasVersion(category: string, version: string): Promise<boolean> {
    return (await this.store.head(this.manifestKey(category, version))) !== null;
  }

  /** The whole artifact, after checking its length and SHA-256 against the manifest's values. */
  async readArtifact(category: string, version: string, name: string, expected: ArtifactFingerprint): Promise<Buffer> {
    const key = this.artifactKey(category, version, name);
    let data: Buffer;
    try {
      data = await this.store.get(key);
    } catch (err) {
      throw this.notFound(category, version, name, err);
    }
    const actual = { bytes: data.length, sha256: sha256Hex(data) };
    if (actual.bytes !== expected.bytes || actual.sha256 !== expected.sha256.toLowerCase()) {
      throw new ModelIntegrityError(category, version, name, expected, actual, this.store.location);
    }
    return data;
  }

  /**
   * The artifact streamed in blocks of whole `unitBytes` records (a position's factors, say), at most
   * about `blockBytes` each and 4-byte aligned, handed to `onBlock` one at a time as they arrive, so the
   * whole artifact is never held: a block's bytes are valid only during its call. The length and SHA-256
   * are checked as it flows and a mismatch throws ModelIntegrityError at the end, after the blocks were
   * handed over: whatever `onBlock` built from them must be dropped then.
   */
  async readArtifactInBlocks(
    category: string,
    version: string,
    name: string,
    expected: ArtifactFingerprint,
    unitBytes: number,
    onBlock: (block: Uint8Array) => void | Promise<void>,
    blockBytes = 64 * 1024 ** 2,
  ): Promise<void> {
    if (!Number.isSafeInteger(unitBytes) || unitBytes < 1) throw new RangeError(`readArtifactInBlocks: unitBytes must be a positive integer, got ${unitBytes}`);
    const units = Math.max(1, Math.floor(blockBytes / unitBytes));
    const block = new Uint8Array(units * unitBytes);
    const hash = createHash('sha256');
    let filled = 0;
    let total = 0;
    const corrupt = (actual: ArtifactFingerprint | string) => new ModelIntegrityError(category, version, name, expected, actual, this.store.location);
    const stream = await this.openArtifact(category, version, name);
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      total += chunk.length;
      // Leaving the loop by a throw (here or from onBlock) destroys the stream.
      if (total > expected.bytes) throw corrupt(`more than ${expected.bytes} bytes`);
      for (let at = 0; at < chunk.length;) {
        const n = Math.min(block.length - filled, chunk.length - at);
        block.set(chunk.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === block.length) {
          await onBlock(block);
          filled = 0;
        }
      }
    }
    const actual = { bytes: total, sha256: hash.digest('hex') };
    if (actual.bytes !== expected.bytes || actual.sha256 !== expected.sha256.toLowerCase()) throw corrupt(actual);
    if (filled % unitBytes !== 0) throw corrupt(`${total} bytes, not a whole number of ${unitBytes}-byte records`);
    if (filled > 0) await onBlock(block.subarray(0, filled));
  }

  /** A stream of the artifact (or a byte range of it); not verified, the caller hashes if it needs to. */
  async openArtifact(category: string, version: string, name: string, range?: ByteRange): Promise<NodeJS.ReadableStream> {
    const key = this.artifactKey(category, version, name);
    try {
      return await this.store.openRead(key, range);
    } catch (err) {
      throw this.notFound(category, version, name, err);
    }
  }

  async readArtifactRange(category: string, version: string, name: string, start: number, end: number): Promise<Buffer> {
    const key = this.artifactKey(category, version, name);
    try {
      return await this.store.getRange(key, start, end);
    } catch (err) {
      throw this.notFound(category, version, name, err);
    }
  }

  /**
   * Points current.json at version, whichever version is current now (an operator may roll back);
   * refuses a version whose manifest is missing.
   */
  async setCurrent(category: string, version: string): Promise<void> {
    await this.lock.withLock(validateCategory(category), async () => {
      await this.requireVersion(category, version);
      await this.writeCurrent(category, version);
    });
  }

  /**
   * Points current.json at version only when no version is current or the current one is older
   * (compareVersions): what a finished training run does, so a run that ends late never replaces a
   * newer version promoted meanwhile. Returns whether version is current afterwards.
   */
  async advanceCurrent(category: string, version: string): Promise<boolean> {
    return this.lock.withLock(validateCategory(category), async () => {
      await this.requireVersion(category, version);
      const current = await this.getCurrent(category);
      if (current === version) return true;
      if (current !== null && compareVersions(current, version) > 0) return false;
      await this.writeCurrent(category, version);
      return true;
    });
  }

  private async requireVersion(category: string, version: string): Promise<void> {
    if (!(await this.hasVersion(category, version))) {
      throw new ModelNotFoundError(category, version, undefined, this.store.location);
    }
  }

  private async writeCurrent(category: string, version: string): Promise<void> {
    const pointer: CurrentPointer = { version, updatedAt: new Date().toISOString() };
    await this.store.put(modelCurrentKey(category), `${JSON.stringify(pointer, null, 2)}\n`, { contentType: 'application/json' });
  }

  async getCurrent(category: string): Promise<string | null> {
    const key = modelCurrentKey(category);
    let raw: Buffer;
    try {
      raw = await this.store.get(key);
    } catch (err) {
      if (err instanceof BlobNotFoundError) return null;
      throw err;
    }
    let version: unknown;
    try {
      version = (JSON.parse(raw.toString('utf8')) as { version?: unknown } | null)?.version;
    } catch {
      version = undefined;
    }
    if (typeof version !== 'string') {
      throw new ModelIntegrityError(category, 'current', 'current.json', '{"version": "<name>", ...}', raw.toString('utf8').slice(0, 200), this.store.location);
    }
    return validateVersion(version);
  }

  async listCategories(): Promise<string[]> {
    const root = modelsRoot();
    const prefixes = await this.store.listPrefixes(root);
    return prefixes
      .map((p) => p.slice(root.length, -1))
      .filter((name) => {
        try {
          validateCategory(name);
          return true;
        } catch {
          return false;
        }
      })
      .sort(compareVersions);
  }

  /** Versions that have a manifest (complete ones), ascending. */
  async listVersions(category: string): Promise<string[]> {
    const base = modelCategoryPrefix(category);
    const candidates = (await this.store.listPrefixes(base)).map((p) => p.slice(base.length, -1));
    const versions: string[] = [];
    for (const version of candidates) {
      try {
        validateVersion(version);
      } catch {
        continue;
      }
      if (await this.hasVersion(category, version)) versions.push(version);
    }
    return versions.sort(compareVersions);
  }

  /**
   * Removes a version: the manifest first, under the category's lock (the version stops existing at
   * once, and a promote waiting for the lock then finds it missing), then the rest. Refuses the
   * current version. Returns how many blobs were removed; 0 when there was nothing.
   */
  async deleteVersion(category: string, version: string): Promise<number> {
    const prefix = modelVersionPrefix(category, version);
    const hadManifest = await this.lock.withLock(category, async () => {
      if ((await this.getCurrent(category)) === version) {
        throw new ModelConflictError(category, version, 'is the current version; set another one current before deleting it');
      }
      const manifestKey = this.manifestKey(category, version);
      const found = (await this.store.head(manifestKey)) !== null;
      await this.store.delete(manifestKey);
      return found;
    });
    const rest = await this.store.deletePrefix(prefix);
    return rest + (hadManifest ? 1 : 0);
  }

  /**
   * Removes what a run wrote for a version it never published (no manifest: nothing can read it or
   * make it current). A published version is left alone. Returns how many blobs were removed.
   */
  async deleteUnpublishedVersion(category: string, version: string): Promise<number> {
    if (await this.hasVersion(category, version)) return 0;
    return this.store.deletePrefix(modelVersionPrefix(category, version));
  }
}

/** Writes `body` under `key` and returns its length and SHA-256, hashed as it streams past. */
export async function putHashed(store: BlobStore, key: string, body: Uint8Array | NodeJS.ReadableStream): Promise<WrittenArtifact> {
  if (!isReadableStream(body)) {
    const { size } = await store.put(key, body);
    return { key, bytes: size, sha256: sha256Hex(body) };
  }
  const hashing = pipeInto(body, sha256Stream());
  const { size } = await store.put(key, hashing);
  if (size !== hashing.bytes) throw new Error(`writing ${key} to ${store.location}: stored ${size} bytes but ${hashing.bytes} passed through`);
  return { key, bytes: size, sha256: hashing.sha256 };
}
