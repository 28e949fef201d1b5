import { createWriteStream, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ArchiveLimits, ArchiveRejectedError, detectArchiveFile, streamArchiveEntries } from '@padim-fleet/archives';
import type { FleetConfig } from '@padim-fleet/contracts';
import type { BlobStore } from '@padim-fleet/storage';

/** The archive limits the configuration sets, the same for every format and every route. */
export function archiveLimitsOf(config: FleetConfig): Partial<ArchiveLimits> {
  return { maxEntries: config.ARCHIVE_MAX_ENTRIES, maxTotalBytes: config.ARCHIVE_MAX_BYTES, maxCompressionRatio: config.ARCHIVE_MAX_COMPRESSION_RATIO };
}

export interface UnpackArchiveOptions {
  /** Where the archive is, and its key there. */
  source: BlobStore;
  key: string;
  /** Where its files go: `prefix` + each entry's path. */
  target: BlobStore;
  prefix: string;
  limits: Partial<ArchiveLimits>;
  /** The name errors give the archive, and whose extension tells its format when its first bytes do not; default the key's base name. */
  name?: string;
  /** The archive is copied here first (zip needs random access); removed afterwards. */
  scratchDir?: string;
}

export interface UnpackedFile {
  /** The entry's path in the archive. */
  file: string;
  key: string;
}

/**
 * Inspects a stored archive whole (a hostile one is an ArchiveRejectedError before anything is written),
 * then streams its files into the target store one at a time, so memory stays bounded whatever the
 * entries' sizes. On a rejection found while unpacking (an entry larger than it declared, a bomb in a
 * tar.gz's stream) what was written under `prefix` is removed. Keys are fixed, so a retry overwrites.
 */
export async function unpackArchive(opts: UnpackArchiveOptions): Promise<UnpackedFile[]> {
  const name = opts.name ?? path.posix.basename(opts.key);
  const dir = await fs.mkdtemp(path.join(opts.scratchDir ?? os.tmpdir(), 'archive-'));
  const file = path.join(dir, 'archive');
  try {
    await pipeline(await opts.source.openRead(opts.key), createWriteStream(file));
    const format = await detectArchiveFile(file, name);
    if (!format) throw new ArchiveRejectedError(name, 'not a .zip, .tar or .tar.gz archive');
    const files: UnpackedFile[] = [];
    for await (const { entry, content } of streamArchiveEntries(file, { format, limits: opts.limits, label: name })) {
      const key = opts.prefix + entry.path;
      await opts.target.put(key, Readable.from(content));
      files.push({ file: entry.path, key });
    }
    return files;
  } catch (error) {
    if (error instanceof ArchiveRejectedError) await opts.target.deletePrefix(opts.prefix);
    throw error;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
