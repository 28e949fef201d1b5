import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from '@jest/globals';
import { findRepoRoot } from '../config/paths';

function repoRoot(): string {
  const root = findRepoRoot(__dirname);
  if (!root) throw new Error(`no nx.json above ${__dirname}: cannot locate the shared data folder (set PADIM_SHARED_DIR)`);
  return root;
}

/** The read-only shared folder (weights, datasets): PADIM_SHARED_DIR, else ../shared beside the repo. */
export function sharedDir(): string {
  return process.env.PADIM_SHARED_DIR ? path.resolve(process.env.PADIM_SHARED_DIR) : path.resolve(repoRoot(), '../shared');
}

export function sharedPath(...parts: string[]): string {
  return path.join(sharedDir(), ...parts);
}

/**
 * A describe block that needs the shared folder. Where it is missing the block is skipped with a printed
 * reason, except in CI (CI=true), where a skipped check would hide a broken set-up, so it fails instead.
 */
export function describeWithShared(name: string, fn: () => void): void {
  const dir = sharedDir();
  if (existsSync(dir)) {
    describe(name, fn);
    return;
  }
  const reason = `shared data folder ${dir} is missing (set PADIM_SHARED_DIR or place it at ../shared beside the repo)`;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has the shared data folder', () => {
        throw new Error(reason);
      });
    });
    return;
  }
  console.warn(`skipping "${name}": ${reason}`);
  describe.skip(name, fn);
}
