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

/**
 * The ResNet-18 weights shipped with this library (torchvision ImageNet, conv1..layer3, BatchNorm folded).
 * This file runs as <package>/src/config/paths.ts or <package>/dist/config/paths.js, so the package's
 * assets/ folder is two levels up from either, wherever the repository lives and whatever the cwd.
 */
export function shippedResnet18Dir(): string {
  return path.resolve(__dirname, '..', '..', 'assets', 'resnet18-torchvision');
}

/** The ResNet-18 weights folder: PADIM_RESNET18_DIR, else the weights shipped with the library. */
export function defaultResnet18Dir(): string {
  if (process.env.PADIM_RESNET18_DIR) return path.resolve(process.env.PADIM_RESNET18_DIR);
  return shippedResnet18Dir();
}
