import { randomBytes } from 'node:crypto';
import { constants as fsConstants, createWriteStream, type Dirent } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import {
  BlobNotFoundError,
  BlobRangeError,
  checkRangeArguments,
  compareKeys,
  isReadableStream,
  toBuffer,
  type BlobBody,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  type PutOptions,
} from './blob-store';
import { pipeInto } from './hashing';
import { InvalidKeyError, validateKey, validatePrefix } from './keys';

/** Names of in-flight (or crashed) writes: `.<name>.tmp-<hex>`. Never listed, never valid keys. */
const TEMP_NAME = /^\..*\.tmp-[0-9a-f]+$/;

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

const MISSING = new Set(['ENOENT', 'ENOTDIR', 'EISDIR']);

/**
 * Writes a file through `write(temp)` to a temporary sibling of `target`, syncs it and renames it into
 * place, so readers see the old file or the whole new one; the temporary file is removed on failure.
 */
async function writeThenRename(target: string, write: (temp: string) => Promise<void>): Promise<{ size: number }> {
  const dir = path.dirname(target);
  const temp = path.join(dir, `.${path.basename(target)}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    await fs.mkdir(dir, { recursive: true });
    await write(temp);
    const handle = await fs.open(temp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    const { size } = await fs.stat(temp);
    await fs.rename(temp, target);
    return { size };
  } catch (err) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}

interface Entry {
  name: string;
  isDir: boolean;
  /** name, plus '/' for a directory: sorting on it gives the key order of everything below. */
  sortName: string;
}

/** Blobs as files under one root folder; writes go to a temporary sibling and are renamed into place. */
/** Bytes per read of a whole blob. */
const READ_CHUNK_BYTES = 256 * 1024 ** 2;

export class LocalBlobStore implements BlobStore {
  readonly root: string;
  readonly location: string;

  constructor(root: string) {
    this.root = path.resolve(root);
    this.location = pathToFileURL(this.root).href;
  }

  private pathOf(key: string): string {
    validateKey(key);
    const segments = key.split('/');
    if (segments.some((s) => TEMP_NAME.test(s))) {
      throw new InvalidKeyError(`key ${JSON.stringify(key)}: names like ".<name>.tmp-<hex>" are reserved for temporary files`);
    }
    return path.join(this.root, ...segments);
  }

  async put(key: string, body: BlobBody, _opts?: PutOptions): Promise<{ size: number }> {
    const target = this.pathOf(key);
    // Take the stream over before the first await, so an error it emits meanwhile is not unhandled.
    const source = isReadableStream(body) ? pipeInto(body, new PassThrough()) : null;
    try {
      return await writeThenRename(target, async (temp) => {
        if (source) await pipeline(source, createWriteStream(temp, { flags: 'wx' }));
        else await fs.writeFile(temp, toBuffer(body as Uint8Array | string), { flag: 'wx' });
      });
    } catch (err) {
      source?.destroy();
      const code = errorCode(err);
      if (code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST') {
        throw new Error(`cannot write ${JSON.stringify(key)} in ${this.location}: a folder and a file would share a name (${String(err)})`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  async copy(fromKey: string, toKey: string): Promise<{ size: number }> {
    const source = this.pathOf(fromKey);
    try {
      // copy_file_range or a reflink where the file system has them.
      return await writeThenRename(this.pathOf(toKey), (temp) => fs.copyFile(source, temp, fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE));
    } catch (err) {
      const sourceIsFile = await fs.stat(source).then(
        (st) => st.isFile(),
        () => false,
      );
      if (!sourceIsFile) throw new BlobNotFoundError(this.location, fromKey);
      throw err;
    }
  }

  async get(key: string): Promise<Buffer> {
    const file = this.pathOf(key);
    try {
      return await readWholeFile(file);
    } catch (err) {
      if (MISSING.has(errorCode(err) ?? '')) throw new BlobNotFoundError(this.location, key);
      throw err;
    }
  }

  private async openFile(key: string): Promise<{ handle: fs.FileHandle; size: number }> {
    const file = this.pathOf(key);
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(file, 'r');
    } catch (err) {
      if (MISSING.has(errorCode(err) ?? '')) throw new BlobNotFoundError(this.location, key);
      throw err;
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new BlobNotFoundError(this.location, key);
      return { handle, size: stat.size };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Buffer> {
    this.pathOf(key);
    checkRangeArguments(start, end);
    const { handle, size } = await this.openFile(key);
    try {
      if (end > size) throw new BlobRangeError(this.location, key, start, end, size);
      const out = Buffer.alloc(end - start);
      let done = 0;
      while (done < out.length) {
        const { bytesRead } = await handle.read(out, done, out.length - done, start + done);
        if (bytesRead === 0) throw new BlobRangeError(this.location, key, start, end, start + done);
        done += bytesRead;
      }
      return out;
    } finally {
      await handle.close();
    }
  }

  async openRead(key: string, range?: ByteRange): Promise<NodeJS.ReadableStream> {
    this.pathOf(key);
    if (range) checkRangeArguments(range.start, range.end);
    const { handle, size } = await this.openFile(key);
    if (!range) return handle.createReadStream();
    if (range.end > size) {
      await handle.close();
      throw new BlobRangeError(this.location, key, range.start, range.end, size);
    }
    if (range.end === range.start) {
      await handle.close();
      return Readable.from([]);
    }
    return handle.createReadStream({ start: range.start, end: range.end - 1 });
  }

  async head(key: string): Promise<BlobInfo | null> {
    const file = this.pathOf(key);
    try {
      const stat = await fs.stat(file);
      if (!stat.isFile()) return null;
      return { key, size: stat.size, lastModified: stat.mtime };
    } catch (err) {
      if (MISSING.has(errorCode(err) ?? '')) return null;
      throw err;
    }
  }

  private async entries(dir: string): Promise<Entry[]> {
    let dirents: Dirent[];
    try {
      dirents = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (MISSING.has(errorCode(err) ?? '')) return [];
      throw err;
    }
    const out: Entry[] = [];
    for (const d of dirents) {
      if (d.isDirectory()) out.push({ name: d.name, isDir: true, sortName: `${d.name}/` });
      else if (d.isFile() && !TEMP_NAME.test(d.name)) out.push({ name: d.name, isDir: false, sortName: d.name });
    }
    return out.sort((a, b) => compareKeys(a.sortName, b.sortName));
  }

  /** Splits a prefix into the folder to read and the start every entry name in it must have. */
  private split(prefix: string): { dirKey: string; namePrefix: string } {
    const slash = prefix.lastIndexOf('/');
    return { dirKey: prefix.slice(0, slash + 1), namePrefix: prefix.slice(slash + 1) };
  }

  private dirPath(dirKey: string): string {
    return dirKey === '' ? this.root : path.join(this.root, ...dirKey.slice(0, -1).split('/'));
  }

  private async *walk(dirKey: string): AsyncGenerator<{ key: string; file: string }> {
    for (const e of await this.entries(this.dirPath(dirKey))) {
      const key = dirKey + e.name;
      if (e.isDir) yield* this.walk(`${key}/`);
      else yield { key, file: path.join(this.dirPath(dirKey), e.name) };
    }
  }

  /** Files under prefix in key order (depth-first over sorted entries is key order, see Entry.sortName). */
  private async *files(prefix: string): AsyncGenerator<{ key: string; file: string }> {
    const { dirKey, namePrefix } = this.split(prefix);
    for (const e of await this.entries(this.dirPath(dirKey))) {
      if (!e.name.startsWith(namePrefix)) continue;
      const key = dirKey + e.name;
      if (e.isDir) yield* this.walk(`${key}/`);
      else yield { key, file: path.join(this.dirPath(dirKey), e.name) };
    }
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    validatePrefix(prefix);
    for await (const { key, file } of this.files(prefix)) {
      try {
        const stat = await fs.stat(file);
        if (stat.isFile()) yield { key, size: stat.size, lastModified: stat.mtime };
      } catch (err) {
        // Deleted between readdir and stat: it is simply no longer there.
        if (!MISSING.has(errorCode(err) ?? '')) throw err;
      }
    }
  }

  async listPrefixes(prefix: string): Promise<string[]> {
    validatePrefix(prefix);
    const { dirKey, namePrefix } = this.split(prefix);
    const out: string[] = [];
    for (const e of await this.entries(this.dirPath(dirKey))) {
      if (!e.isDir || !e.name.startsWith(namePrefix)) continue;
      // S3 has no empty folders: a folder counts only when some blob lies below it.
      const below = this.walk(`${dirKey}${e.name}/`);
      const first = await below.next();
      await below.return(undefined);
      if (!first.done) out.push(`${dirKey}${e.name}/`);
    }
    return out;
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    try {
      await fs.unlink(file);
    } catch (err) {
      // A missing key, or a "key" that is really a folder of other keys: nothing to delete.
      if (MISSING.has(errorCode(err) ?? '') || errorCode(err) === 'EPERM') return;
      throw err;
    }
    await this.pruneEmptyDirs(path.dirname(file));
  }

  async deletePrefix(prefix: string): Promise<number> {
    validatePrefix(prefix);
    if (prefix === '') throw new InvalidKeyError(`refusing to delete every blob in ${this.location} (empty prefix)`);
    const { dirKey, namePrefix } = this.split(prefix);
    let count = 0;
    const dirs = new Set<string>();
    for await (const { file } of this.files(prefix)) {
      try {
        await fs.unlink(file);
        count++;
        dirs.add(path.dirname(file));
      } catch (err) {
        if (!MISSING.has(errorCode(err) ?? '')) throw err;
      }
    }
    // Leftover temporary files of crashed writes below the prefix go too, then the emptied folders.
    await this.removeTempFiles(this.dirPath(dirKey), namePrefix, dirs);
    const deepestFirst = [...dirs].sort((a, b) => b.length - a.length);
    for (const dir of deepestFirst) await this.pruneEmptyDirs(dir);
    return count;
  }

  async abortStaleWrites(olderThanMs: number, now = Date.now()): Promise<number> {
    const dirs = new Set<string>();
    const removed = await this.removeTempFiles(this.root, '', dirs, now - olderThanMs);
    for (const dir of [...dirs].sort((a, b) => b.length - a.length)) await this.pruneEmptyDirs(dir);
    return removed;
  }

  /** Removes temporary files below `dir` (only those last written before `cutoff` when given); returns how many. */
  private async removeTempFiles(dir: string, namePrefix: string, dirs: Set<string>, cutoff?: number): Promise<number> {
    let dirents: Dirent[];
    try {
      dirents = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (MISSING.has(errorCode(err) ?? '')) return 0;
      throw err;
    }
    let removed = 0;
    for (const d of dirents) {
      const full = path.join(dir, d.name);
      if (d.isDirectory() && d.name.startsWith(namePrefix)) {
        if (cutoff === undefined) dirs.add(full);
        removed += await this.removeTempFiles(full, '', dirs, cutoff);
      } else if (d.isFile() && TEMP_NAME.test(d.name) && namePrefix === '') {
        if (cutoff !== undefined) {
          const stat = await fs.stat(full).catch(() => null);
          if (!stat || stat.mtimeMs >= cutoff) continue;
        }
        await fs.rm(full, { force: true });
        dirs.add(dir);
        removed++;
      }
    }
    return removed;
  }

  /** Removes dir and its parents while they are empty, never the root. */
  private async pruneEmptyDirs(dir: string): Promise<void> {
    let current = dir;
    while (current.startsWith(this.root + path.sep) && current !== this.root) {
      try {
        await fs.rmdir(current);
      } catch (err) {
        const code = errorCode(err);
        if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'EBUSY') return;
        if (code !== 'ENOENT') throw err;
      }
      current = path.dirname(current);
    }
  }

  async ping(): Promise<void> {
    // Readiness without side effects: the root, or the nearest folder that would hold it, must be writable.
    let probe = this.root;
    for (;;) {
      try {
        const stat = await fs.stat(probe);
        if (!stat.isDirectory()) throw new Error(`local store ${this.location} is not usable: ${probe} is not a folder`);
        await fs.access(probe, fsConstants.W_OK | fsConstants.X_OK);
        return;
      } catch (err) {
        const code = errorCode(err);
        if (code === 'ENOENT' && path.dirname(probe) !== probe) {
          probe = path.dirname(probe);
          continue;
        }
        if (code === 'EACCES' || code === 'EPERM') throw new Error(`local store ${this.location} is not writable: ${probe} (${code})`);
        throw err instanceof Error && code === undefined ? err : new Error(`local store ${this.location} is not usable: ${String(err)}`);
      }
    }
  }
}

/**
 * fs.readFile, a chunk at a time: fs.readFile refuses files above 2 GiB (resnet50 d=550's factors
 * are 2.5 GB).
 */
async function readWholeFile(file: string): Promise<Buffer> {
  const handle = await fs.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    while (at < size) {
      const { bytesRead } = await handle.read(out, at, Math.min(READ_CHUNK_BYTES, size - at), at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return out.subarray(0, at);
  } finally {
    await handle.close();
  }
}
