import { resolveArchiveContext, type ArchiveOptions } from './archive-context';
import type { ArchiveEntry } from './archive-entry';
import { inspectContext } from './archive-stream';

/**
 * Reads the whole directory first (zip: central directory; tar: one streaming pass over headers) and throws
 * ArchiveRejectedError on the first violation. Returns the file entries in archive order; directories and
 * macOS metadata (`__MACOSX/`, `._*`, `.DS_Store`) are left out.
 */
export async function inspectArchive(file: string, opts: ArchiveOptions = {}): Promise<ArchiveEntry[]> {
  return inspectContext(await resolveArchiveContext(file, opts));
}
