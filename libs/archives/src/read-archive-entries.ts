import { resolveArchiveContext, type ArchiveOptions } from './archive-context';
import type { ArchiveEntryData } from './archive-entry';
import { streamArchive, type StreamedEntry } from './archive-stream';

export type { StreamedEntry };

export interface ReadArchiveOptions extends ArchiveOptions {
  /** Entries for which it returns false are skipped without being kept in memory. Hostile entries are rejected all the same. */
  filter?: (path: string) => boolean;
}

/**
 * Inspects the archive, then yields each file entry with its bytes, in archive order. The limits are enforced again
 * on the bytes actually read: an entry is cut off as soon as it exceeds its declared size or maxEntryBytes.
 */
export async function* readArchiveEntries(file: string, opts: ReadArchiveOptions = {}): AsyncGenerator<ArchiveEntryData, void, undefined> {
  const ctx = await resolveArchiveContext(file, opts);
  for await (const { entry, content } of streamArchive(ctx, opts.filter)) {
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of content) {
      chunks.push(chunk);
      length += chunk.length;
    }
    yield { path: entry.path, data: Buffer.concat(chunks, length) };
  }
}

/**
 * Inspects the archive, then yields each file entry with its bytes as a stream, in archive order, for files too
 * large to hold in memory. Read each entry's content to the end (or not at all) before asking for the next.
 */
export async function* streamArchiveEntries(file: string, opts: ReadArchiveOptions = {}): AsyncGenerator<StreamedEntry, void, undefined> {
  const ctx = await resolveArchiveContext(file, opts);
  yield* streamArchive(ctx, opts.filter);
}
