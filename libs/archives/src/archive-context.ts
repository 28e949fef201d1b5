import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ARCHIVE_FORMATS, ARCHIVE_HEAD_BYTES, detectArchiveFormat, type ArchiveFormat } from './archive-format';
import { resolveArchiveLimits, type ArchiveLimits } from './archive-limits';
import { ArchiveRejectedError } from './archive-rejected-error';

export interface ArchiveOptions {
  limits?: Partial<ArchiveLimits>;
  /** Skips detection; the archive is still rejected if it is not of this format. */
  format?: ArchiveFormat;
  /** Name used in error messages (e.g. the uploaded file name); defaults to the file's base name. */
  label?: string;
}

/** What every reader needs to know about one archive file. */
export interface ArchiveContext {
  file: string;
  label: string;
  limits: ArchiveLimits;
  format: ArchiveFormat;
}

/** The first bytes of a file, enough to tell its archive format by magic bytes. */
async function readArchiveHead(file: string): Promise<Uint8Array> {
  const handle = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(ARCHIVE_HEAD_BYTES);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * The archive format of a file on disk: by its first bytes, else by the extension of its path, else by that
 * of `name` (the name it was uploaded or stored under); null when none of them tells.
 */
export async function detectArchiveFile(file: string, name?: string): Promise<ArchiveFormat | null> {
  const head = await readArchiveHead(file);
  return detectArchiveFormat(file, head) ?? (name === undefined ? null : detectArchiveFormat(name));
}

/** Resolves limits, label and format. A missing or unreadable file throws the file system error unchanged. */
export async function resolveArchiveContext(file: string, opts: ArchiveOptions = {}): Promise<ArchiveContext> {
  const limits = resolveArchiveLimits(opts.limits);
  const label = opts.label ?? path.basename(file);
  if (opts.format !== undefined && !ARCHIVE_FORMATS.includes(opts.format)) {
    throw new TypeError(`unknown archive format option: ${String(opts.format)}`);
  }
  const stat = await fs.stat(file);
  if (!stat.isFile()) throw new ArchiveRejectedError(label, 'not a regular file');
  if (stat.size === 0) throw new ArchiveRejectedError(label, 'empty file (0 bytes), not an archive');
  const format = opts.format ?? (await detectArchiveFile(file, opts.label));
  if (format === null) throw new ArchiveRejectedError(label, 'unknown format: not a zip, tar or tar.gz archive');
  return { file, label, limits, format };
}
