import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ArchiveLimits, detectArchiveFile, inspectArchive, readArchiveEntries } from '@padim-fleet/archives';
import { ImageReader, listImagesRecursive } from '@padim-fleet/inference';
import type { ScoreItem } from '@padim-fleet/compute';

export interface ScoreInputChunk {
  items: ScoreItem[];
  /** Set for archive chunks: reads an entry's bytes, held in memory, by its ref. */
  read?: ImageReader;
  /** Items in all chunks together (known once every input has been listed and inspected). */
  total: number;
}

export interface ScoreInputOptions {
  /** Archive entries read into memory at once (default 64). */
  chunkSize?: number;
  limits?: Partial<ArchiveLimits>;
}

type InputPlan = { kind: 'files'; items: ScoreItem[] } | { kind: 'archive'; file: string; label: string; count: number };

async function statInput(input: string): Promise<import('node:fs').Stats> {
  try {
    return await fs.stat(input);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new Error(`${input}: no such file or folder`);
    throw new Error(`${input}: ${(error as Error).message}`);
  }
}

/** The deepest folder holding every path in `folders` (all absolute). */
function commonFolder(folders: string[]): string {
  let base = folders[0];
  while (!folders.every((f) => f === base || f.startsWith(base.endsWith(path.sep) ? base : base + path.sep))) {
    const parent = path.dirname(base);
    if (parent === base) break;
    base = parent;
  }
  return base;
}

/** Output names use '/' whatever the platform, as object keys do. */
function relativeName(base: string, file: string): string {
  return path.relative(base, file).split(path.sep).join('/');
}

/** Lists folders and inspects every archive before anything is yielded, so a hostile archive stops the run before any scoring. */
async function planInputs(inputs: string[], limits: Partial<ArchiveLimits> | undefined): Promise<InputPlan[]> {
  const resolved: { input: string; abs: string; kind: 'folder' | 'file' | 'archive'; files?: string[] }[] = [];
  for (const input of inputs) {
    const abs = path.resolve(input);
    const stat = await statInput(input);
    if (stat.isDirectory()) resolved.push({ input, abs, kind: 'folder', files: await listImagesRecursive(abs) });
    else if (!stat.isFile()) throw new Error(`${input}: not a file or folder`);
    else if ((await detectArchiveFile(abs)) !== null) resolved.push({ input, abs, kind: 'archive' });
    else resolved.push({ input, abs, kind: 'file', files: [abs] });
  }
  const local = resolved.filter((r) => r.kind !== 'archive');
  const base = local.length > 0 ? commonFolder(local.map((r) => (r.kind === 'folder' ? r.abs : path.dirname(r.abs)))) : '';
  const seen = new Set<string>();
  const plan: InputPlan[] = [];
  for (const r of resolved) {
    if (r.kind === 'archive') {
      const label = path.basename(r.abs);
      const entries = await inspectArchive(r.abs, { limits, label });
      plan.push({ kind: 'archive', file: r.abs, label, count: entries.length });
      continue;
    }
    // Overlapping inputs (a folder and a file or subfolder in it) score each image once.
    const items = r.files!.filter((f) => !seen.has(f)).map((f) => ({ file: relativeName(base, f), ref: f }));
    for (const item of items) seen.add(item.ref);
    const last = plan[plan.length - 1];
    if (last?.kind === 'files') last.items.push(...items);
    else plan.push({ kind: 'files', items });
  }
  return plan;
}

/**
 * Turns command-line inputs into chunks of items to score, in input order:
 * - a folder: every image file below it (by extension, recursively, hidden files skipped);
 * - a file that is an archive (.zip, .tar, .tar.gz/.tgz, by magic bytes first): every file entry, images or
 *   not (a non-image entry becomes an error row); macOS metadata is skipped by the archive reader;
 * - any other file: scored as an image (a non-image gives an error row).
 * Every archive is inspected whole before the first chunk is yielded (a hostile one throws ArchiveRejectedError),
 * then read in chunks of at most `chunkSize` entries held in memory. Local files come as one chunk per run of
 * consecutive file and folder inputs; they are read from disk while scoring. Names: for files and folder images,
 * the path relative to the common parent of those inputs; for archive entries, `<archive base name>/<entry path>`.
 * A missing input throws an Error naming it.
 */
export async function* scoreInputChunks(inputs: string[], opts: ScoreInputOptions = {}): AsyncGenerator<ScoreInputChunk> {
  const chunkSize = opts.chunkSize ?? 64;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize must be a positive integer, got ${chunkSize}`);
  const plan = await planInputs(inputs, opts.limits);
  const total = plan.reduce((n, p) => n + (p.kind === 'files' ? p.items.length : p.count), 0);
  for (const part of plan) {
    if (part.kind === 'files') {
      if (part.items.length > 0) yield { items: part.items, total };
      continue;
    }
    let items: ScoreItem[] = [];
    let data = new Map<string, Buffer>();
    const chunk = (): ScoreInputChunk => {
      const held = data;
      const read: ImageReader = async (ref) => {
        const bytes = held.get(ref);
        if (bytes === undefined) throw new Error(`${ref}: not an entry of this chunk`);
        return bytes;
      };
      return { items, read, total };
    };
    for await (const entry of readArchiveEntries(part.file, { limits: opts.limits, label: part.label })) {
      // Entry paths are unique within an archive (the reader rejects duplicates), so the name is a unique ref.
      const name = `${part.label}/${entry.path}`;
      items.push({ file: name, ref: name });
      data.set(name, entry.data);
      if (items.length >= chunkSize) {
        yield chunk();
        items = [];
        data = new Map();
      }
    }
    if (items.length > 0) yield chunk();
  }
}
