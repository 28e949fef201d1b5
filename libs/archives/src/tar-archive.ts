import { createReadStream } from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import type { ArchiveContext } from './archive-context';
import type { ArchiveEntry } from './archive-entry';
import { isSystemError, rejection, shortMessage } from './archive-errors';
import { ArchiveRejectedError } from './archive-rejected-error';
import { describeEntry } from './entry-path';
import { EntryValidator, type EntryKind, type RawEntry } from './entry-validator';

const BLOCK = 512;
/**
 * Bytes the tar stream may hold beyond the declared file data: each entry's header and padding (plus a pax
 * header with a long name) fit in PER_ENTRY, and SLACK covers the end-of-archive blocks, record padding and
 * what the parser has buffered but not yet reported. Anything more is a decompression bomb or garbage.
 */
const OVERHEAD_PER_ENTRY = 8 * 1024;
const OVERHEAD_SLACK = 1024 * 1024;
/**
 * A tar.gz has no per-entry compressed sizes, so its ratio is checked over each stretch of this many
 * decompressed bytes (the analogue of zip's check on each entry over 1 MiB): a bomb hidden after ordinary
 * images is caught as surely as one at the start.
 */
const RATIO_WINDOW_BYTES = 8 * 1024 * 1024;

/**
 * tar-stream's typings list only the entry types it writes; on reading, `type` is null for an unknown type flag,
 * and `byteOffset` (where the entry's data starts in the stream) is set but not typed.
 */
type TarHeader = Omit<tar.Header, 'type' | 'size'> & { type: string | null; size: number | undefined; byteOffset?: unknown };

export interface TarFileEntry {
  entry: ArchiveEntry;
  /**
   * The file's bytes. Read it to the end or not at all before asking for the next entry:
   * an unread one is skipped (read through without being kept).
   */
  content: AsyncIterable<Buffer>;
}

const KINDS: Readonly<Record<string, EntryKind>> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'directory',
  symlink: 'symlink',
  link: 'hardlink',
  'character-device': 'device',
  'block-device': 'device',
  fifo: 'fifo',
};

function rawTarEntry(header: TarHeader): RawEntry {
  const size = header.size ?? 0;
  const kind = header.type === null ? undefined : KINDS[header.type];
  if (kind) return { name: header.name, kind, size };
  return { name: header.name, kind: 'unsupported', size, detail: `tar type ${header.type ?? 'unknown'}` };
}

/** Resolves once `extract` can take more input, or is gone. */
function writable(extract: tar.Extract): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      extract.off('drain', done);
      extract.off('close', done);
      resolve();
    };
    extract.on('drain', done);
    extract.on('close', done);
  });
}

/**
 * One streaming pass over a tar or tar.gz: yields the file entries that pass the checks, in archive order,
 * and throws ArchiveRejectedError on the first violation, on a decompression bomb, or on a truncated or corrupt stream.
 */
export async function* walkTar(ctx: ArchiveContext): AsyncGenerator<TarFileEntry, void, undefined> {
  const gzip = ctx.format === 'tar.gz';
  const validator = new EntryValidator(ctx.label, ctx.limits);
  const source = createReadStream(ctx.file);
  let sourceError: unknown;
  source.on('error', (err) => {
    sourceError = err;
  });
  const gunzip = gzip ? zlib.createGunzip() : null;
  const upstream: Readable = gunzip ? pipeline(source, gunzip, () => undefined) : source;
  const extract = tar.extract();
  const entries = extract[Symbol.asyncIterator]();

  let fed = 0; // bytes handed to the tar parser: the decompressed bytes of a tar.gz
  let declared = 0;
  let headers = 0;
  let dataEnd = 0; // where the last entry's data, padded to a block, ends
  const window = { startFed: 0, startCompressed: 0 };
  extract.on('entry', (header) => {
    const size = header.size ?? 0;
    headers += 1;
    declared += Math.min(size, ctx.limits.maxEntryBytes);
    const offset = (header as TarHeader).byteOffset;
    if (typeof offset === 'number') dataEnd = offset + Math.ceil(size / BLOCK) * BLOCK;
  });

  // Fed by hand rather than piped so every decompressed chunk is counted before the parser sees it.
  const pump = async (): Promise<void> => {
    for await (const chunk of upstream as AsyncIterable<Buffer>) {
      fed += chunk.length;
      const allowed = declared + OVERHEAD_SLACK + headers * OVERHEAD_PER_ENTRY;
      if (fed > allowed) {
        const what = gzip ? 'decompressed data' : 'tar data';
        throw rejection(
          ctx.label,
          `${what} exceeds what the tar headers declare by more than ${allowed - declared} bytes (possible ${gzip ? 'gzip' : 'tar'} bomb)`,
        );
      }
      // bytesWritten: the compressed bytes zlib has consumed so far, not what the file stream has read ahead.
      if (gunzip && fed - window.startFed >= RATIO_WINDOW_BYTES) {
        const ratio = (fed - window.startFed) / Math.max(gunzip.bytesWritten - window.startCompressed, 1);
        if (ratio > ctx.limits.maxCompressionRatio) {
          throw rejection(ctx.label, `suspicious compression ratio of ${Math.round(ratio)}:1 (limit ${ctx.limits.maxCompressionRatio}:1; possible gzip bomb)`);
        }
        window.startFed = fed;
        window.startCompressed = gunzip.bytesWritten;
      }
      if (!extract.write(chunk)) await writable(extract);
      if (extract.destroyed) return;
    }
    extract.end(null);
  };
  pump().catch((err: unknown) => {
    extract.destroy(err instanceof ArchiveRejectedError || err === sourceError || isSystemError(err) ? toError(err) : gzipFailure(ctx.label, err));
  });

  try {
    for (;;) {
      const next = await entries.next();
      if (next.done) break;
      const stream = next.value;
      const accepted = validator.accept(rawTarEntry(stream.header as TarHeader));
      const progress: { state: 'unread' | 'reading' | 'done' } = { state: 'unread' };
      const content = async function* (): AsyncGenerator<Buffer, void, undefined> {
        progress.state = 'reading';
        try {
          for await (const chunk of stream) yield chunk as Buffer;
        } catch (err) {
          throw tarFailure(ctx.label, err, sourceError);
        }
        progress.state = 'done';
      };
      if (accepted) yield { entry: accepted, content: content() };
      if (progress.state === 'unread') for await (const chunk of content()) void chunk;
      else if (progress.state === 'reading') throw new TypeError('a tar entry was left half read before asking for the next one');
    }
    if (fed < dataEnd + BLOCK) validator.reject('truncated tar: the end-of-archive marker is missing');
  } catch (err) {
    throw tarFailure(ctx.label, err, sourceError);
  } finally {
    upstream.destroy();
    source.destroy();
    extract.destroy();
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function gzipFailure(label: string, err: unknown): ArchiveRejectedError {
  if (/unexpected end of file/i.test(shortMessage(err))) return rejection(label, 'truncated gzip stream (unexpected end of file)');
  return rejection(label, `corrupt gzip data (${shortMessage(err)})`);
}

const TAR_MESSAGES: [RegExp, string][] = [
  [/Unexpected end of data/, 'truncated tar: the archive ends inside an entry'],
  [/Invalid tar header\. Maybe/, 'corrupt tar: a header fails its checksum'],
  [/unknown format/, 'corrupt tar: a header is neither ustar nor GNU format'],
  [/Header exceeds max size/, 'corrupt tar: an extended header is too large'],
  [/^Invalid header$/, 'corrupt tar: a header declares an invalid size'],
];

function tarFailure(label: string, err: unknown, sourceError: unknown): Error {
  if (err instanceof ArchiveRejectedError) return err;
  // TypeError: a bug in the caller or a library, not a fault of the archive.
  if (err === sourceError || isSystemError(err) || err instanceof TypeError) return toError(err);
  const message = shortMessage(err);
  for (const [pattern, reason] of TAR_MESSAGES) if (pattern.test(message)) return rejection(label, reason);
  return rejection(label, `corrupt tar (${message})`);
}

/** A full pass over a tar or tar.gz: the file entries in archive order. */
export async function inspectTar(ctx: ArchiveContext): Promise<ArchiveEntry[]> {
  const found: ArchiveEntry[] = [];
  for await (const { entry } of walkTar(ctx)) found.push(entry);
  return found;
}

/** Second pass after inspectTar(): an entry that differs from the inspected list means the file changed in between. */
export async function* rewalkTar(ctx: ArchiveContext, inspected: readonly ArchiveEntry[]): AsyncGenerator<TarFileEntry, void, undefined> {
  let index = 0;
  for await (const item of walkTar(ctx)) {
    const expected = inspected[index++];
    if (!expected || expected.path !== item.entry.path || expected.size !== item.entry.size) {
      throw rejection(ctx.label, `the archive changed while it was being read (at ${describeEntry(item.entry.path)})`);
    }
    yield item;
  }
  if (index !== inspected.length) throw rejection(ctx.label, 'the archive changed while it was being read (entries missing)');
}
