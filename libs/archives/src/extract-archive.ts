import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { resolveArchiveContext } from './archive-context';
import { errorCode, rejection } from './archive-errors';
import { streamArchive } from './archive-stream';
import { describeEntry } from './entry-path';
import type { ReadArchiveOptions } from './read-archive-entries';

export type ExtractArchiveOptions = ReadArchiveOptions;

/** Base names longer than this get a short temporary name, so the `.tmp-<hex>` suffix cannot push it past NAME_MAX. */
const MAX_TEMP_BASE_BYTES = 200;

/**
 * Extracts into `dir`, which must be empty or not exist. The whole archive is inspected before anything is written;
 * each file is written to `<name>.tmp-<random>` and renamed into place, and every target is checked to stay inside
 * `dir`. On failure what was written is removed again. Returns the written relative paths, in archive order.
 */
export async function extractArchive(file: string, dir: string, opts: ExtractArchiveOptions = {}): Promise<string[]> {
  const ctx = await resolveArchiveContext(file, opts);
  const existed = await checkTargetDir(dir);
  const written: string[] = [];
  const topLevel = new Set<string>();
  let root: string | undefined;
  try {
    for await (const { entry, content } of streamArchive(ctx, opts.filter)) {
      root ??= await createRoot(dir);
      const target = targetPath(root, entry.path, ctx.label);
      topLevel.add(entry.path.split('/')[0] ?? entry.path);
      const parent = path.dirname(target);
      await fs.mkdir(parent, { recursive: true });
      if (!isInside(root, await fs.realpath(parent))) {
        throw rejection(ctx.label, `${describeEntry(entry.path)} resolves outside the target directory`);
      }
      await writeAtomically(target, content);
      written.push(entry.path);
    }
    await fs.mkdir(dir, { recursive: true });
  } catch (err) {
    await removeWritten(dir, existed, topLevel);
    throw err;
  }
  return written;
}

/** Whether `dir` exists; throws if it is not an empty directory. */
async function checkTargetDir(dir: string): Promise<boolean> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false;
    throw err;
  }
  if (names.length > 0) throw new Error(`extraction target is not empty: ${dir}`);
  return true;
}

async function createRoot(dir: string): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  return fs.realpath(dir);
}

function isInside(root: string, candidate: string): boolean {
  return candidate === root || candidate.startsWith(root + path.sep);
}

function targetPath(root: string, entryPath: string, label: string): string {
  const target = path.resolve(root, ...entryPath.split('/'));
  if (target === root || !isInside(root, target)) {
    throw rejection(label, `${describeEntry(entryPath)} resolves outside the target directory`);
  }
  return target;
}

async function writeAtomically(target: string, content: AsyncIterable<Buffer>): Promise<void> {
  const base = path.basename(target);
  const tempBase = Buffer.byteLength(base) > MAX_TEMP_BASE_BYTES ? '.long-name' : base;
  const temp = path.join(path.dirname(target), `${tempBase}.tmp-${randomBytes(8).toString('hex')}`);
  try {
    // 'wx' never follows or reuses something already at the temporary path.
    await pipeline(content, createWriteStream(temp, { flags: 'wx', mode: 0o644 }));
    await fs.rename(temp, target);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
}

/** Best effort: the target was empty or missing before, so everything under it is ours. */
async function removeWritten(dir: string, existed: boolean, topLevel: ReadonlySet<string>): Promise<void> {
  const targets = existed ? [...topLevel].map((name) => path.join(dir, name)) : [dir];
  await Promise.all(targets.map((target) => fs.rm(target, { recursive: true, force: true }).catch(() => undefined)));
}
