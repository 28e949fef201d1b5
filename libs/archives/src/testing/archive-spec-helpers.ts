import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { expect } from '@jest/globals';
import { ArchiveRejectedError } from '../archive-rejected-error';
import { readArchiveEntries } from '../read-archive-entries';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Bytes that start like a PNG: enough for the archive code, which never decodes images. */
export const png = (bytes: number) => Buffer.concat([PNG_SIGNATURE, randomBytes(bytes)]);

export async function readAll(file: string, opts: Parameters<typeof readArchiveEntries>[1] = {}) {
  const out: { path: string; data: Buffer }[] = [];
  for await (const entry of readArchiveEntries(file, opts)) out.push(entry);
  return out;
}

/** The ArchiveRejectedError a promise rejects with (the test fails if it resolves or rejects otherwise). */
export async function rejection(promise: Promise<unknown>): Promise<ArchiveRejectedError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ArchiveRejectedError);
  return err as ArchiveRejectedError;
}

/** Every non-directory entry below root (files and links alike), as sorted POSIX paths. */
export async function listTree(root: string): Promise<string[]> {
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => !entry.isDirectory())
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'))
    .sort();
}
