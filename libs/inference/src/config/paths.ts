import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The monorepo root (the nearest folder above this file holding nx.json), or null in an installed copy. */
export function findRepoRoot(from = __dirname): string | null {
  let dir = from;
  while (!existsSync(path.join(dir, 'nx.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
  return dir;
}

/** Where converted backbone graphs are cached: PADIM_CACHE_DIR, else <repo>/.cache, else ~/.cache/padim-fleet. */
export function defaultCacheDir(): string {
  if (process.env.PADIM_CACHE_DIR) return path.resolve(process.env.PADIM_CACHE_DIR);
  const root = findRepoRoot();
  return root ? path.join(root, '.cache') : path.join(os.homedir(), '.cache', 'padim-fleet');
}

/** The ResNet-18 weights folder: PADIM_RESNET18_DIR, else ../shared/backbones/resnet18-torchvision beside the repo. */
export function defaultResnet18Dir(): string {
  if (process.env.PADIM_RESNET18_DIR) return path.resolve(process.env.PADIM_RESNET18_DIR);
  const root = findRepoRoot() ?? process.cwd();
  return path.resolve(root, '../shared/backbones/resnet18-torchvision');
}
