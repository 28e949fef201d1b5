import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { INV_CHOLESKY_FILE, MANIFEST_FILE, MEAN_FILE, createMahalanobisKernel } from '@padim-fleet/padim-core';
import { tinyModel } from '../../../../test/support/tiny-model';
import { readFloat32File, readModelFolder, readModelFolderKernel, sha256Hex, writeModelFolder } from './model-folder';

const manifest = () => tinyModel().manifest;
const tensors = () => tinyModel().tensors;

describe('model folders', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'padim-model-'));
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('round-trips tensors bit for bit and replaces an existing model whole', async () => {
    const out = path.join(dir, 'model');
    await writeModelFolder(out, manifest(), tensors());
    const second = tensors();
    second.mean[0] = 42;
    await writeModelFolder(out, { ...manifest(), category: 'parts-v2' }, second);
    const loaded = await readModelFolder(out);
    expect(loaded.manifest.category).toBe('parts-v2');
    expect(loaded.tensors.mean).toEqual(second.mean);
    expect(loaded.tensors.invCholesky).toEqual(second.invCholesky);
    expect((await fs.readdir(dir)).sort()).toEqual(['model']); // no temporary or old folders left
  });

  it('refuses to publish a model whose thresholds were never set, leaving the old one in place', async () => {
    const out = path.join(dir, 'model');
    await writeModelFolder(out, manifest(), tensors());
    const unset = { ...manifest(), thresholds: { ...manifest().thresholds, rule: 'unset' as const } };
    await expect(writeModelFolder(out, unset, tensors())).rejects.toThrow(/thresholds were never set/);
    expect((await readModelFolder(out)).manifest.thresholds.rule).toBe('holdout-mean-3std');
  });

  it('rejects a truncated tensor, a corrupted tensor, a newer format and a missing manifest, naming the problem', async () => {
    const out = path.join(dir, 'model');
    await writeModelFolder(out, manifest(), tensors());
    const factor = path.join(out, INV_CHOLESKY_FILE);
    const bytes = await fs.readFile(factor);

    await fs.writeFile(factor, bytes.subarray(0, bytes.length - 4));
    await expect(readModelFolder(out)).rejects.toThrow(/inv_cholesky.f32 has 236 bytes, the manifest says 240 \(truncated or replaced\)/);

    const flipped = Buffer.from(bytes);
    flipped[17] ^= 0x01;
    await fs.writeFile(factor, flipped);
    await expect(readModelFolder(out)).rejects.toThrow(/inv_cholesky.f32 checksum .* does not match .* \(corrupted\)/);

    await fs.writeFile(factor, bytes);
    const json = JSON.parse(await fs.readFile(path.join(out, MANIFEST_FILE), 'utf8'));
    await fs.writeFile(path.join(out, MANIFEST_FILE), JSON.stringify({ ...json, formatVersion: 2 }));
    await expect(readModelFolder(out)).rejects.toThrow(/formatVersion is 2; this build reads version 1/);

    const mean = json.tensors.mean;
    await fs.writeFile(
      path.join(out, MANIFEST_FILE),
      JSON.stringify({ ...json, tensors: { ...json.tensors, mean: { ...mean, dtype: 'float64', bytes: 2 * mean.bytes } } }),
    );
    await expect(readModelFolder(out)).rejects.toThrow(/mean.f32 is float64; only float32 tensors are read/);

    await fs.rm(path.join(out, MANIFEST_FILE));
    await expect(readModelFolder(out)).rejects.toThrow(/no manifest.json \(not a model folder\)/);
    expect(await fs.readFile(path.join(out, MEAN_FILE))).toBeTruthy();
  });
});

describe('readModelFolderKernel', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'padim-model-kernel-'));
  });
  afterEach(() => fs.rm(dir, { recursive: true, force: true }));

  it('reads the factors block by block into a kernel that scores as one built from the whole tensors', async () => {
    const out = path.join(dir, 'model');
    const written = await writeModelFolder(out, manifest(), tensors());
    const { mean, invCholesky } = tensors();
    const reference = createMahalanobisKernel(mean, invCholesky, 4, 6)!;
    const embeddings = Float32Array.from({ length: 2 * 4 * 6 }, (_, i) => Math.sin(i));
    // Blocks of two positions (40 bytes each), and one block for all.
    for (const blockBytes of [100, 1e6]) {
      const kernel = await readModelFolderKernel(out, written, { blockBytes });
      expect(kernel!.distances(embeddings, 2)).toEqual(reference.distances(embeddings, 2));
    }
    expect(await readModelFolderKernel(out, written, { maxBytes: 1000 })).toBeNull();
  });

  it('refuses a truncated or corrupted factor file, and tensors that are not float32', async () => {
    const out = path.join(dir, 'model');
    const written = await writeModelFolder(out, manifest(), tensors());
    const factor = path.join(out, INV_CHOLESKY_FILE);
    const bytes = await fs.readFile(factor);
    await fs.writeFile(factor, bytes.subarray(0, bytes.length - 40));
    await expect(readModelFolderKernel(out, written)).rejects.toThrow(/inv_cholesky.f32 has 200 bytes, the manifest says 240 \(truncated or replaced\)/);
    const flipped = Buffer.from(bytes);
    flipped[201] ^= 0x01;
    await fs.writeFile(factor, flipped);
    await expect(readModelFolderKernel(out, written, { blockBytes: 80 })).rejects.toThrow(/inv_cholesky.f32 checksum .* does not match .* \(corrupted\)/);
    const invCholesky = { ...written.tensors.invCholesky, dtype: 'float64' as const, bytes: 2 * written.tensors.invCholesky.bytes };
    await expect(readModelFolderKernel(out, { ...written, tensors: { ...written.tensors, invCholesky } })).rejects.toThrow(
      /inv_cholesky.f32 is float64; only float32 tensors are read/,
    );
  });
});

describe('readFloat32File', () => {
  let dir: string;
  beforeAll(async () => (dir = await fs.mkdtemp(path.join(os.tmpdir(), 'padim-f32-'))));
  afterAll(async () => fs.rm(dir, { recursive: true, force: true }));

  it('reads the values in chunks into an aligned array, and refuses a partial value', async () => {
    const values = Float32Array.from({ length: 1001 }, (_, i) => i / 7 - 3);
    const file = path.join(dir, 'values.f32');
    await fs.writeFile(file, new Uint8Array(values.buffer));
    // 12-byte chunks: 334 reads, the last one short.
    expect(await readFloat32File(file, 12)).toEqual(values);
    await fs.writeFile(file, new Uint8Array(values.buffer, 0, 4002));
    await expect(readFloat32File(file)).rejects.toThrow(/has 4002 bytes, not a whole number of float32 values/);
  });

  it('reads a file above 2 GiB (resnet50 d=550 factors are 2.5 GB), which fs.readFile refuses', async () => {
    const file = path.join(dir, 'large.f32');
    const size = 2 ** 31 + 4096;
    // Sparse: no disk used; the last value is set so the read is checked to the end.
    const handle = await fs.open(file, 'w');
    await handle.truncate(size);
    await handle.write(new Uint8Array(Float32Array.of(1.5).buffer), 0, 4, size - 4);
    await handle.close();
    await expect(fs.readFile(file)).rejects.toThrow(/greater than 2 GiB/);
    const values = await readFloat32File(file);
    expect(values.length).toBe(size / 4);
    expect([values[0], values[values.length - 1]]).toEqual([0, 1.5]);
  }, 60_000);
});

describe('sha256Hex', () => {
  it('hashes 2 GiB and more (resnet50 d=550 factors are 2.5 GB), which one hash update refuses', () => {
    const bytes = new Uint8Array(2 ** 31 + 3);
    bytes[bytes.length - 1] = 9;
    expect(() => createHash('sha256').update(bytes)).toThrow(/data is too long/);
    const expected = createHash('sha256')
      .update(bytes.subarray(0, 2 ** 30))
      .update(bytes.subarray(2 ** 30))
      .digest('hex');
    expect(sha256Hex(bytes)).toBe(expected);
  }, 60_000);
});
