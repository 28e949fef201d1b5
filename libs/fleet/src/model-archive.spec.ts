import { createWriteStream, mkdtempSync, promises as fs, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { ArchiveRejectedError, readArchiveEntries } from '@padim-fleet/archives';
import { BlobStore, LocalBlobStore, ModelConflictError, ModelRegistry } from '@padim-fleet/storage';
import { MODEL_ARCHIVE_HEADER, RegistryImportTarget, importModelArchive, openModelArchive } from './model-archive';
import { loadRegistryModel, publishModel } from './registry-model';
import { tinyModel } from '../../../test/support/tiny-model';

async function keysUnder(store: BlobStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const blob of store.list(prefix)) keys.push(blob.key);
  return keys;
}

async function writeTar(file: string, entries: { path: string; data: Buffer }[]): Promise<void> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.path }, e.data);
  pack.finalize();
  await pipeline(pack, createWriteStream(file));
}

describe('model archives', () => {
  let scratch: string;
  let source: ModelRegistry;
  let target: ModelRegistry;
  let archive: string;

  beforeEach(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'padim-model-archive-'));
    source = new ModelRegistry(new LocalBlobStore(path.join(scratch, 'source')));
    target = new ModelRegistry(new LocalBlobStore(path.join(scratch, 'target')));
    await publishModel(source, 'screw', 'v7', tinyModel());
    archive = path.join(scratch, 'screw-v7.tar');
    await pipeline(await openModelArchive(source, 'screw', 'v7'), createWriteStream(archive));
  });

  afterEach(() => rmSync(scratch, { recursive: true, force: true }));

  async function entriesOf(file: string): Promise<{ path: string; data: Buffer }[]> {
    const entries = [];
    for await (const e of readArchiveEntries(file)) entries.push(e);
    return entries;
  }

  it('streams header, manifest and tensors, and an import publishes the same model without moving current', async () => {
    expect((await entriesOf(archive)).map((e) => e.path)).toEqual([MODEL_ARCHIVE_HEADER, 'manifest.json', 'mean.f32', 'inv_cholesky.f32']);
    const into = new RegistryImportTarget(target, { category: 'screw-copy' });
    await importModelArchive(archive, into);
    expect(into.version).toBe('v7');
    expect(await target.listVersions('screw-copy')).toEqual(['v7']);
    expect(await target.getCurrent('screw-copy')).toBeNull();
    const imported = await loadRegistryModel(target, 'screw-copy', 'v7');
    const original = await loadRegistryModel(source, 'screw', 'v7');
    expect(imported.manifest).toEqual({ ...original.manifest, category: 'screw-copy' });
    expect(imported.tensors).toEqual(original.tensors);
    // The staged tensors are gone once published.
    expect(await keysUnder(target.store, 'uploads/')).toEqual([]);
  });

  it('moves current only with promote, and publishes under another version when asked', async () => {
    await importModelArchive(archive, new RegistryImportTarget(target, { category: 'screw', promote: true }));
    expect(await target.getCurrent('screw')).toBe('v7');
    await importModelArchive(archive, new RegistryImportTarget(target, { version: 'v8' }));
    expect(await target.listVersions('screw')).toEqual(['v7', 'v8']);
    expect(await target.getCurrent('screw')).toBe('v7');
  });

  it('refuses an existing version and leaves it as it was', async () => {
    await importModelArchive(archive, new RegistryImportTarget(target));
    const before = await target.store.get('models/screw/v7/inv_cholesky.f32');
    await expect(importModelArchive(archive, new RegistryImportTarget(target))).rejects.toBeInstanceOf(ModelConflictError);
    expect(await target.store.get('models/screw/v7/inv_cholesky.f32')).toEqual(before);
    expect(await keysUnder(target.store, 'uploads/')).toEqual([]);
  });

  it('refuses a tensor whose bytes do not match the manifest, naming it, and publishes nothing', async () => {
    const entries = await entriesOf(archive);
    const factor = entries.find((e) => e.path === 'inv_cholesky.f32')!;
    factor.data[17] ^= 1;
    const corrupt = path.join(scratch, 'corrupt.tar');
    await writeTar(corrupt, entries);
    const error = await importModelArchive(corrupt, new RegistryImportTarget(target)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArchiveRejectedError);
    expect((error as Error).message).toMatch(/inv_cholesky\.f32: SHA-256 [0-9a-f]{64} .*does not match the manifest's/);
    expect(await target.listVersions('screw')).toEqual([]);
    expect(await keysUnder(target.store, 'models/')).toEqual([]);
    expect(await keysUnder(target.store, 'uploads/')).toEqual([]);
  });

  it('refuses archives that are not a whole model, naming what is wrong', async () => {
    const entries = await entriesOf(archive);
    const cases: [string, { path: string; data: Buffer }[], RegExp][] = [
      ['no header', entries.slice(1), /first entry is manifest\.json, expected padim-model\.json/],
      ['a missing tensor', entries.slice(0, 3), /missing inv_cholesky\.f32/],
      ['an extra file', [...entries, { path: 'notes.txt', data: Buffer.from('x') }], /notes\.txt: not a tensor of the manifest/],
      [
        'a truncated tensor',
        [...entries.slice(0, 3), { path: 'inv_cholesky.f32', data: entries[3].data.subarray(4) }],
        /inv_cholesky\.f32: 236 bytes, the manifest says 240/,
      ],
      ['a bad header', [{ path: MODEL_ARCHIVE_HEADER, data: Buffer.from('{"format":"zip"}') }, ...entries.slice(1)], /padim-model\.json: format/],
    ];
    for (const [name, content, message] of cases) {
      const file = path.join(scratch, `${name.replace(/ /g, '-')}.tar`);
      await writeTar(file, content);
      const error = await importModelArchive(file, new RegistryImportTarget(target)).catch((e: unknown) => e);
      expect([name, (error as Error).message]).toEqual([name, expect.stringMatching(message)]);
      expect(error).toBeInstanceOf(ArchiveRejectedError);
    }
    expect(await keysUnder(target.store, 'models/')).toEqual([]);
    expect(await keysUnder(target.store, 'uploads/')).toEqual([]);
  });

  it('ends the download with an error when a stored tensor no longer matches its manifest', async () => {
    const key = 'models/screw/v7/mean.f32';
    const stored = await source.store.get(key);
    stored[3] ^= 1;
    await source.store.put(key, stored);
    const out = path.join(scratch, 'broken.tar');
    await expect(pipeline(await openModelArchive(source, 'screw', 'v7'), createWriteStream(out))).rejects.toThrow(/mean\.f32/);
    await expect(fs.stat(out)).resolves.toBeDefined();
  });
});
