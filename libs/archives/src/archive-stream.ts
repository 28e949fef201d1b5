import type { ArchiveContext } from './archive-context';
import type { ArchiveEntry } from './archive-entry';
import { rejection } from './archive-errors';
import { describeEntry } from './entry-path';
import { inspectTar, rewalkTar } from './tar-archive';
import { openZipArchive } from './zip-archive';

export interface StreamedEntry {
  entry: ArchiveEntry;
  /** Read it to the end (or not at all) before asking for the next entry. */
  content: AsyncIterable<Buffer>;
}

/** Every entry of an archive after the whole directory passed inspection. */
export async function inspectContext(ctx: ArchiveContext): Promise<ArchiveEntry[]> {
  if (ctx.format !== 'zip') return inspectTar(ctx);
  const zip = await openZipArchive(ctx);
  zip.close();
  return [...zip.entries];
}

/**
 * Inspects the whole archive first, then yields the file entries `filter` keeps, in archive order, each with
 * its bytes; the bytes are checked again against the declared size and the limits as they are read.
 */
export async function* streamArchive(ctx: ArchiveContext, filter?: (path: string) => boolean): AsyncGenerator<StreamedEntry, void, undefined> {
  const totals = { bytes: 0 };
  if (ctx.format === 'zip') {
    const zip = await openZipArchive(ctx);
    try {
      for (const [index, entry] of zip.entries.entries()) {
        if (filter && !filter(entry.path)) continue;
        yield { entry, content: enforceSize(zip.content(index), entry, ctx, totals) };
      }
    } finally {
      zip.close();
    }
    return;
  }
  const inspected = await inspectTar(ctx);
  for await (const { entry, content } of rewalkTar(ctx, inspected)) {
    if (filter && !filter(entry.path)) continue;
    yield { entry, content: enforceSize(content, entry, ctx, totals) };
  }
}

/** Stops as soon as an entry yields more than it declared: the declared sizes are what the limits were checked against. */
async function* enforceSize(
  source: AsyncIterable<Buffer>,
  entry: ArchiveEntry,
  ctx: ArchiveContext,
  totals: { bytes: number },
): AsyncGenerator<Buffer, void, undefined> {
  const shown = describeEntry(entry.path);
  let read = 0;
  for await (const chunk of source) {
    read += chunk.length;
    totals.bytes += chunk.length;
    if (read > entry.size) throw rejection(ctx.label, `${shown} holds more data than its declared ${entry.size} bytes`);
    if (read > ctx.limits.maxEntryBytes) {
      throw rejection(ctx.label, `${shown} holds more than the per-file limit of ${ctx.limits.maxEntryBytes} bytes`);
    }
    if (totals.bytes > ctx.limits.maxTotalBytes) {
      throw rejection(ctx.label, `total uncompressed size exceeds the limit of ${ctx.limits.maxTotalBytes} bytes (at ${shown})`);
    }
    yield chunk;
  }
  if (read < entry.size) throw rejection(ctx.label, `${shown} holds less data than its declared ${entry.size} bytes (truncated)`);
}
