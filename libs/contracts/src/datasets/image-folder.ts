import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** Extensions taken when a folder is scanned recursively; a flat folder takes every regular file (so stray files get a per-file error). */
export const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp', '.gif']);

export function isImageFileName(name: string): boolean {
  return IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase());
}

/** The visible regular files of a folder, sorted by name so runs are reproducible. */
export async function listFolderFiles(dir: string): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${dir}: no such folder` : code === 'ENOTDIR' ? `${dir}: not a folder` : `${dir}: ${(error as Error).message}`);
  }
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith('.'))
    .map((e) => path.join(dir, e.name))
    .sort();
}

/**
 * The training images of a data folder: `<dir>/train/good` when it is an MVTec-style category,
 * otherwise the files of `<dir>` itself.
 */
export async function resolveTrainingFiles(dir: string): Promise<{ folder: string; files: string[] }> {
  const mvtec = path.join(dir, 'train', 'good');
  const folder = (await isDirectory(mvtec)) ? mvtec : dir;
  const files = await listFolderFiles(folder);
  if (files.length === 0) throw new Error(`${folder}: no files to train on`);
  return { folder, files };
}

export async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Image files (by extension) anywhere below `dir`, sorted; hidden files and folders are skipped. */
export async function listImagesRecursive(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && isImageFileName(e.name)) out.push(p);
    }
  };
  if (!(await isDirectory(dir))) throw new Error(`${dir}: no such folder`);
  await walk(dir);
  return out.sort();
}
