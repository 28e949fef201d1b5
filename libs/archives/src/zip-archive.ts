import type { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
import * as yauzl from 'yauzl';
import type { ArchiveContext } from './archive-context';
import type { ArchiveEntry } from './archive-entry';
import { errorCode, isSystemError, rejection, shortMessage } from './archive-errors';
import { ArchiveRejectedError } from './archive-rejected-error';
import { describeEntry } from './entry-path';
import { EntryValidator, type EntryKind, type RawEntry } from './entry-validator';

const ZIP_OPTIONS: yauzl.Options = {
  lazyEntries: true,
  autoClose: false,
  strictFileNames: false,
  validateEntrySizes: true,
  decodeStrings: true,
};

/** Small entries are exempt from the ratio check: a few KiB of zeros legitimately compress very well. */
const RATIO_CHECK_MIN_BYTES = 1024 * 1024;

const S_IFMT = 0o170000;
const UNIX_KINDS = new Map<number, EntryKind>([
  [0o120000, 'symlink'],
  [0o020000, 'device'],
  [0o060000, 'device'],
  [0o010000, 'fifo'],
  [0o140000, 'unsupported'],
  [0o040000, 'directory'],
]);

/** An inspected zip, kept open so the entries read later are the ones that were checked. */
export interface ZipArchive {
  /** File entries in central-directory order. */
  readonly entries: readonly ArchiveEntry[];
  /** Streams one file's uncompressed bytes and verifies its CRC-32. Failures are ArchiveRejectedError (or I/O errors). */
  content(index: number): AsyncGenerator<Buffer, void, undefined>;
  close(): void;
}

interface ZipFile {
  entry: ArchiveEntry;
  zipEntry: yauzl.Entry;
}

interface StoredRange {
  start: number;
  end: number;
  name: string;
}

/** Reads and checks the whole central directory (plus each local header's position); throws ArchiveRejectedError on the first violation. */
export async function openZipArchive(ctx: ArchiveContext): Promise<ZipArchive> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(ctx.file, ZIP_OPTIONS);
  } catch (err) {
    throw zipFailure(ctx.label, err);
  }
  // Errors are taken from eachEntry() and the read streams; this listener keeps a late one (closing the fd) from crashing the process.
  zip.on('error', () => undefined);
  try {
    const validator = new EntryValidator(ctx.label, ctx.limits);
    if (zip.entryCount > ctx.limits.maxEntries) {
      validator.reject(`${zip.entryCount} entries, more than the limit of ${ctx.limits.maxEntries}`);
    }
    const files: ZipFile[] = [];
    const ranges: StoredRange[] = [];
    for await (const zipEntry of zip.eachEntry()) {
      const raw = rawZipEntry(zipEntry);
      const accepted = validator.accept(raw);
      if (raw.kind === 'file') checkZipFileEntry(zipEntry, raw.name, validator, ctx);
      const { fileDataStart } = await zip.readLocalFileHeaderPromise(zipEntry, { minimal: true });
      ranges.push({ start: zipEntry.relativeOffsetOfLocalHeader, end: fileDataStart + zipEntry.compressedSize, name: raw.name });
      if (accepted) files.push({ entry: accepted, zipEntry });
    }
    checkNoOverlap(ranges, validator);
    const opened = zip;
    return {
      entries: files.map((file) => file.entry),
      content: (index) => readZipFile(opened, files[index], ctx.label),
      close: () => opened.close(),
    };
  } catch (err) {
    zip.close();
    throw zipFailure(ctx.label, err);
  }
}

function rawZipEntry(zipEntry: yauzl.Entry): RawEntry {
  // yauzl's own fileName has backslashes turned into slashes (strictFileNames: false); decode again without that so they are caught.
  const name = yauzl.getFileNameLowLevel(zipEntry.generalPurposeBitFlag, zipEntry.fileNameRaw, zipEntry.extraFields, true);
  const unixType = (zipEntry.externalFileAttributes >>> 16) & S_IFMT;
  let kind = UNIX_KINDS.get(unixType) ?? 'file';
  if (kind === 'file' && name.endsWith('/')) kind = 'directory';
  const detail = kind === 'unsupported' ? 'socket' : undefined;
  return { name, kind, size: zipEntry.uncompressedSize, detail };
}

function checkZipFileEntry(zipEntry: yauzl.Entry, name: string, validator: EntryValidator, ctx: ArchiveContext): void {
  const shown = describeEntry(name);
  if (zipEntry.isEncrypted()) validator.reject(`${shown} is encrypted; encrypted entries are not supported`);
  if (!zipEntry.canDecodeFileData()) {
    validator.reject(`${shown} uses unsupported compression method ${zipEntry.compressionMethod}`);
  }
  if (zipEntry.uncompressedSize > RATIO_CHECK_MIN_BYTES) {
    const ratio = zipEntry.uncompressedSize / Math.max(zipEntry.compressedSize, 1);
    if (ratio > ctx.limits.maxCompressionRatio) {
      validator.reject(`${shown} has a suspicious compression ratio of ${Math.round(ratio)}:1 (limit ${ctx.limits.maxCompressionRatio}:1; possible zip bomb)`);
    }
  }
}

/** Entries sharing stored bytes are how non-recursive zip bombs multiply one compressed kernel. */
function checkNoOverlap(ranges: StoredRange[], validator: EntryValidator): void {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  let furthest: StoredRange | undefined;
  for (const range of sorted) {
    if (furthest && range.start < furthest.end) {
      validator.reject(`${describeEntry(range.name)} overlaps ${describeEntry(furthest.name)} in the file (possible zip bomb)`);
    }
    if (!furthest || range.end > furthest.end) furthest = range;
  }
}

async function* readZipFile(zip: yauzl.ZipFile, file: ZipFile | undefined, label: string): AsyncGenerator<Buffer, void, undefined> {
  if (!file) throw new RangeError('no such zip entry');
  let stream: Readable;
  try {
    stream = await zip.openReadStreamPromise(file.zipEntry);
  } catch (err) {
    throw zipFailure(label, err, file.entry.path);
  }
  let crc = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      crc = crc32(chunk, crc);
      yield chunk;
    }
  } catch (err) {
    throw zipFailure(label, err, file.entry.path);
  } finally {
    stream.destroy();
  }
  if (crc !== file.zipEntry.crc32) throw rejection(label, `${describeEntry(file.entry.path)} fails its CRC-32 check (corrupt data)`);
}

/** Turns yauzl and zlib errors into rejections with a reason in this library's words. */
function zipFailure(label: string, err: unknown, entryPath?: string): Error {
  if (err instanceof ArchiveRejectedError || isSystemError(err)) return err;
  const message = shortMessage(err);
  const where = entryPath === undefined ? '' : `${describeEntry(entryPath)}: `;
  const reject = (reason: string) => rejection(label, reason);
  let match: RegExpExecArray | null;
  if ((match = /^absolute path: (.*)$/s.exec(message))) return reject(`${describeEntry(match[1] ?? '')} is an absolute path`);
  if ((match = /^invalid relative path: (.*)$/s.exec(message))) return reject(`${describeEntry(match[1] ?? '')} contains a .. segment`);
  if ((match = /^invalid characters in fileName: (.*)$/s.exec(message))) {
    return reject(`${describeEntry(match[1] ?? '')} contains a backslash`);
  }
  if (message.includes('strong encryption')) return reject('an entry uses strong encryption; encrypted entries are not supported');
  if (message.includes('End of central directory record signature not found')) {
    return reject('not a zip archive, or truncated: no end of central directory record');
  }
  if (/too many bytes|not enough bytes|size mismatch/.test(message)) {
    return reject(`${where}actual size differs from the declared size (${message})`);
  }
  if (errorCode(err)?.startsWith('Z_')) return reject(`${where}corrupt compressed data (${message})`);
  return reject(`corrupt or truncated zip: ${where}${message}`);
}
