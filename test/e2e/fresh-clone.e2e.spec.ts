import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateSyntheticDataset } from '@padim-fleet/inference';
import { REPO_ROOT } from '../support/fleet-processes';

/**
 * A new user's machine: the files git tracks, copied into a temporary folder with no ../shared beside it,
 * built there, and the CLI run from elsewhere with nothing pointing back at this checkout.
 */
describe('a fresh clone with nothing beside it', () => {
  let tmp: string;
  let clone: string;
  /** The environment of a new user: none of the variables that would point at ../shared or at this checkout. */
  const env = { ...process.env };
  for (const name of ['PADIM_RESNET18_DIR', 'PADIM_SHARED_DIR', 'PADIM_CACHE_DIR']) delete env[name];

  beforeAll(async () => {
    tmp = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'padim-fresh-clone-')));
    clone = path.join(tmp, 'padim-fleet');
    const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: REPO_ROOT, encoding: 'utf8' })
      .split('\0')
      .filter((f) => f !== '');
    for (const file of tracked) {
      // A file deleted in the working tree but not yet in the index is not part of the clone either.
      if (!existsSync(path.join(REPO_ROOT, file))) continue;
      await fs.mkdir(path.dirname(path.join(clone, file)), { recursive: true });
      await fs.copyFile(path.join(REPO_ROOT, file), path.join(clone, file));
    }
    await linkNodeModules(REPO_ROOT, clone);
    execFileSync(process.execPath, [path.join(clone, 'node_modules/typescript/bin/tsc'), '-b', 'apps/cli', 'apps/api', 'apps/worker'], {
      cwd: clone,
      env,
      stdio: 'pipe',
    });
    await generateSyntheticDataset(path.join(tmp, 'data'), { size: 128, train: 12, testGood: 0, testPerDefect: 0 });
  }, 240_000);

  afterAll(async () => {
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
  });

  it('has no ../shared beside it', () => {
    expect(existsSync(path.join(clone, '..', 'shared'))).toBe(false);
  });

  it('trains with the default backbone (resnet18) and writes a model, run from another folder', async () => {
    const out = path.join(tmp, 'model');
    const stdout = execFileSync(process.execPath, [path.join(clone, 'apps/cli/dist/main.js'), 'train', '--data', path.join(tmp, 'data'), '--out', out], {
      cwd: os.tmpdir(),
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(stdout).toContain(`model written to ${out}`);
    const manifest = JSON.parse(await fs.readFile(path.join(out, 'manifest.json'), 'utf8'));
    expect(manifest.backbone.name).toBe('resnet18');
    expect(manifest.training.imageCount).toBeGreaterThan(0);
  }, 120_000);

  it('finds the shipped weights from the worker and API builds too', () => {
    for (const app of ['worker', 'api']) {
      const script =
        `const inference = require(require.resolve('@padim-fleet/inference', { paths: [${JSON.stringify(path.join(clone, 'apps', app, 'dist'))}] }));` +
        `inference.resolveBackbone('resnet18').then((b) => console.log(JSON.stringify({ dir: inference.defaultResnet18Dir(), name: b.spec.name })));`;
      const result = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: os.tmpdir(), env, encoding: 'utf8' }));
      expect(result).toEqual({ dir: path.join(clone, 'libs/inference/assets/resnet18-torchvision'), name: 'resnet18' });
    }
  }, 60_000);

  it('keeps the weights, their checksums and their licence in the inference package file list', () => {
    const [pack] = JSON.parse(
      execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: path.join(clone, 'libs/inference'), env, encoding: 'utf8' }),
    );
    const files = new Set(pack.files.map((f: { path: string }) => f.path));
    const assets = ['LICENSE', 'SHA256SUMS', 'conv1.weight.npy', 'layer3.1.conv2.weight.npy'].map((f) => `assets/resnet18-torchvision/${f}`);
    for (const asset of assets) expect(files).toContain(asset);
    expect(files).toContain('dist/config/paths.js');
  }, 60_000);
});

/**
 * node_modules for the clone: links to this checkout's installed packages, except the workspace links
 * (@padim-fleet/*), which are made again so that they point at the clone's own libs and apps.
 */
async function linkNodeModules(from: string, to: string): Promise<void> {
  const modules = path.join(to, 'node_modules');
  await fs.mkdir(modules);
  for (const entry of await fs.readdir(path.join(from, 'node_modules'))) {
    if (entry === '@padim-fleet') continue;
    await fs.symlink(path.join(from, 'node_modules', entry), path.join(modules, entry));
  }
  await fs.mkdir(path.join(modules, '@padim-fleet'));
  for (const name of await fs.readdir(path.join(from, 'node_modules', '@padim-fleet'))) {
    const target = await fs.readlink(path.join(from, 'node_modules', '@padim-fleet', name)); // relative, e.g. ../../libs/inference
    await fs.symlink(target, path.join(modules, '@padim-fleet', name));
  }
  // Packages npm installed inside a workspace (a version that differs from the root's).
  for (const group of ['libs', 'apps']) {
    for (const pkg of await fs.readdir(path.join(from, group))) {
      const nested = path.join(from, group, pkg, 'node_modules');
      if (existsSync(nested)) await fs.symlink(nested, path.join(to, group, pkg, 'node_modules'));
    }
  }
}
