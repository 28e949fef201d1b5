/**
 * The model registry over a local folder and over S3 (radosgw): complete versions only, integrity
 * checks on read, and the current-version pointer.
 */
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import {
  InvalidKeyError,
  LocalBlobStore,
  ModelConflictError,
  ModelIntegrityError,
  ModelNotFoundError,
  ModelRegistry,
  compareVersions,
  validateCategory,
  type BlobStore,
  type S3BlobStore,
} from '@padim-fleet/storage';
import type { Redis } from 'ioredis';
import { RedisRegistryLock, createRedis } from '@padim-fleet/fleet';
import { collect, readStream } from './blob-store.contract';
import { createTestBucket, describeWithS3, redisTestUrl, removeTestBucket, s3TestStore, testName } from '../support/services';

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function registryCases(makeStore: () => Promise<BlobStore>, cleanup: (store: BlobStore) => Promise<void>): void {
  let store: BlobStore;
  let registry: ModelRegistry;
  let redis: Redis;
  let lockPrefix: string;

  beforeAll(() => {
    redis = createRedis(redisTestUrl(), 'padim-test');
  });

  afterAll(async () => {
    await redis.quit();
  });

  /** A registry of its own on `target` that shares the Redis lock, as each fleet process has. */
  const sharedRegistry = (target: BlobStore) => new ModelRegistry(target, { lock: new RedisRegistryLock(redis, lockPrefix) });

  beforeEach(async () => {
    store = await makeStore();
    registry = new ModelRegistry(store);
    lockPrefix = testName();
  });

  afterEach(async () => {
    await cleanup(store);
  });

  /** Artifacts, then manifest: how a trainer publishes a version. */
  async function publish(category: string, version: string): Promise<{ mean: Buffer; manifest: Record<string, unknown> }> {
    const mean = randomBytes(10_000);
    const inv = randomBytes(3 * 1024 * 1024 + 5);
    const m = await registry.writeArtifact(category, version, 'mean.f32', mean);
    const i = await registry.writeArtifact(category, version, 'inv_cholesky.f32', Readable.from([inv.subarray(0, 1_000_000), inv.subarray(1_000_000)]));
    expect(m).toEqual({ key: `models/${category}/${version}/mean.f32`, bytes: mean.length, sha256: sha256(mean) });
    expect(i).toEqual({ key: `models/${category}/${version}/inv_cholesky.f32`, bytes: inv.length, sha256: sha256(inv) });
    const manifest = {
      formatVersion: 1,
      version,
      tensors: { 'mean.f32': { bytes: m.bytes, sha256: m.sha256 }, 'inv_cholesky.f32': { bytes: i.bytes, sha256: i.sha256 } },
    };
    await registry.writeManifest(category, version, manifest);
    return { mean, manifest };
  }

  it('publishes a version: artifacts, manifest, then current', async () => {
    expect(await registry.getCurrent('screw')).toBeNull();
    const { mean, manifest } = await publish('screw', 'v1');
    await registry.setCurrent('screw', 'v1');
    expect(await registry.getCurrent('screw')).toBe('v1');
    expect(await registry.readManifest('screw', 'v1')).toEqual(manifest);

    const raw = (await store.get('models/screw/v1/manifest.json')).toString('utf8');
    expect(raw).toBe(`${JSON.stringify(manifest, null, 2)}\n`);
    const pointer = JSON.parse((await store.get('models/screw/current.json')).toString('utf8')) as { version: string; updatedAt: string };
    expect(pointer.version).toBe('v1');
    expect(Number.isNaN(Date.parse(pointer.updatedAt))).toBe(false);

    expect((await registry.readArtifact('screw', 'v1', 'mean.f32', { bytes: mean.length, sha256: sha256(mean) })).equals(mean)).toBe(true);
    expect((await registry.readArtifactRange('screw', 'v1', 'mean.f32', 100, 200)).equals(mean.subarray(100, 200))).toBe(true);
    expect((await readStream(await registry.openArtifact('screw', 'v1', 'mean.f32', { start: 9000, end: 10_000 }))).equals(mean.subarray(9000))).toBe(true);
    expect((await readStream(await registry.openArtifact('screw', 'v1', 'mean.f32'))).equals(mean)).toBe(true);

    await publish('screw', 'v2');
    await registry.setCurrent('screw', 'v2');
    expect(await registry.getCurrent('screw')).toBe('v2');
  });

  it('lists only versions with a manifest, in version order, and the categories', async () => {
    await publish('screw', 'v10');
    await publish('screw', 'v2');
    await registry.writeArtifact('screw', 'v3-unfinished', 'mean.f32', Buffer.from('partial'));
    await publish('bottle', '2024-06-01');
    expect(await registry.listVersions('screw')).toEqual(['v2', 'v10']);
    expect(await registry.listVersions('bottle')).toEqual(['2024-06-01']);
    expect(await registry.listVersions('nothing')).toEqual([]);
    expect(await registry.listCategories()).toEqual(['bottle', 'screw']);
    await expect(registry.readManifest('screw', 'v3-unfinished')).rejects.toThrow(ModelNotFoundError);
    await expect(registry.setCurrent('screw', 'v3-unfinished')).rejects.toThrow(/screw\/v3-unfinished not found/);
    expect(await registry.getCurrent('screw')).toBeNull();
  });

  it('detects a flipped byte and a wrong length', async () => {
    const { mean } = await publish('screw', 'v1');
    const expected = { bytes: mean.length, sha256: sha256(mean) };

    const flipped = Buffer.from(mean);
    flipped[5000] ^= 0x01;
    await store.put('models/screw/v1/mean.f32', flipped);
    const err = await registry.readArtifact('screw', 'v1', 'mean.f32', expected).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ModelIntegrityError);
    const message = (err as Error).message;
    expect(message).toContain('mean.f32');
    expect(message).toContain(expected.sha256);
    expect(message).toContain(sha256(flipped));

    await store.put('models/screw/v1/mean.f32', mean.subarray(0, 9999));
    await expect(registry.readArtifact('screw', 'v1', 'mean.f32', expected)).rejects.toThrow(/expected 10000 bytes .* found 9999 bytes/);
    await expect(registry.readArtifact('screw', 'v1', 'missing.f32', expected)).rejects.toThrow(ModelNotFoundError);
  });

  it('streams an artifact in blocks of whole records, checked as it flows', async () => {
    // 3 MiB + 5 bytes of inv_cholesky.f32 would not be whole 4-byte records: write one that is.
    const unit = 4 * 1001;
    const data = randomBytes(unit * 900);
    const written = await registry.writeArtifact('screw', 'v1', 'inv_cholesky.f32', Readable.from([data.subarray(0, 777_777), data.subarray(777_777)]));
    const blocks: Buffer[] = [];
    const record = (block: Uint8Array) => {
      expect(block.length % unit).toBe(0);
      expect(block.byteOffset % 4).toBe(0);
      blocks.push(Buffer.from(block));
    };
    await registry.readArtifactInBlocks('screw', 'v1', 'inv_cholesky.f32', written, unit, record, 100 * unit + 3);
    expect(blocks.map((b) => b.length)).toEqual([...Array(9).fill(100 * unit)]);
    expect(Buffer.concat(blocks).equals(data)).toBe(true);

    // A flipped byte is found once the stream has ended, after the blocks were handed over.
    const flipped = Buffer.from(data);
    flipped[123_456] ^= 0x10;
    await store.put('models/screw/v1/inv_cholesky.f32', flipped);
    blocks.length = 0;
    await expect(registry.readArtifactInBlocks('screw', 'v1', 'inv_cholesky.f32', written, unit, record, 64 * unit)).rejects.toThrow(
      new RegExp(
        `inv_cholesky.f32.*corrupt: expected ${data.length} bytes with SHA-256 ${written.sha256}, found ${data.length} bytes with SHA-256 ${sha256(flipped)}`,
      ),
    );
    expect(blocks.length).toBeGreaterThan(0);

    // Too long stops reading at the first byte over; too short, and a wrong record size, fail at the end.
    await store.put('models/screw/v1/inv_cholesky.f32', Buffer.concat([data, Buffer.alloc(4)]));
    await expect(registry.readArtifactInBlocks('screw', 'v1', 'inv_cholesky.f32', written, unit, () => undefined)).rejects.toThrow(
      new RegExp(`expected ${data.length} bytes .* found more than ${data.length} bytes`),
    );
    await store.put('models/screw/v1/inv_cholesky.f32', data.subarray(0, data.length - unit));
    await expect(registry.readArtifactInBlocks('screw', 'v1', 'inv_cholesky.f32', written, unit, () => undefined)).rejects.toThrow(ModelIntegrityError);
    await store.put('models/screw/v1/inv_cholesky.f32', data);
    await expect(registry.readArtifactInBlocks('screw', 'v1', 'inv_cholesky.f32', written, 4000, () => undefined)).rejects.toThrow(
      /not a whole number of 4000-byte records/,
    );
    await expect(registry.readArtifactInBlocks('screw', 'v1', 'missing.f32', written, unit, () => undefined)).rejects.toThrow(ModelNotFoundError);

    // An error from the consumer stops the read and comes back as it is.
    await expect(
      registry.readArtifactInBlocks('screw', 'v1', 'inv_cholesky.f32', written, unit, () => {
        throw new Error('consumer gave up');
      }),
    ).rejects.toThrow('consumer gave up');
  });

  it('refuses to delete the current version; deletes others manifest first', async () => {
    await publish('screw', 'v1');
    await publish('screw', 'v2');
    await registry.setCurrent('screw', 'v1');
    await expect(registry.deleteVersion('screw', 'v1')).rejects.toThrow(ModelConflictError);
    await expect(registry.deleteVersion('screw', 'v1')).rejects.toThrow(/screw\/v1: is the current version/);
    await expect(registry.deleteVersion('screw', 'v2')).resolves.toBe(3);
    expect(await registry.listVersions('screw')).toEqual(['v1']);
    expect(await collect(store.list('models/screw/v2/'))).toEqual([]);
    await expect(registry.deleteVersion('screw', 'v2')).resolves.toBe(0);
    await registry.readManifest('screw', 'v1');
  });

  /** A version with one small artifact: enough for the pointer's checks, quick to write many of. */
  async function publishSmall(target: ModelRegistry, category: string, version: string): Promise<void> {
    const data = randomBytes(64);
    const m = await target.writeArtifact(category, version, 'mean.f32', data);
    await target.writeManifest(category, version, { formatVersion: 1, version, tensors: { 'mean.f32': { bytes: m.bytes, sha256: m.sha256 } } });
  }

  it('promote and delete of one version sent together: one of them wins, and current always names an existing version', async () => {
    // Two registries on one store, as two API processes would have, sharing only Redis.
    const [promoter, deleter] = [sharedRegistry(store), sharedRegistry(store)];
    await publishSmall(promoter, 'screw', 'base');
    await promoter.setCurrent('screw', 'base');
    for (let round = 0; round < 30; round++) {
      const version = `r${round}`;
      await publishSmall(promoter, 'screw', version);
      const [promoted, deleted] = await Promise.allSettled([promoter.setCurrent('screw', version), deleter.deleteVersion('screw', version)]);
      const current = await promoter.getCurrent('screw');
      // The invariant, round by round: current.json names a version whose manifest exists.
      expect([round, current, await promoter.hasVersion('screw', current!)]).toEqual([round, current, true]);
      if (current === version) {
        expect([round, promoted.status, deleted.status === 'rejected' && deleted.reason instanceof ModelConflictError]).toEqual([round, 'fulfilled', true]);
        await promoter.setCurrent('screw', 'base');
        await promoter.deleteVersion('screw', version);
      } else {
        expect([round, deleted.status, promoted.status === 'rejected' && promoted.reason instanceof ModelNotFoundError]).toEqual([round, 'fulfilled', true]);
      }
    }
    expect(await promoter.listVersions('screw')).toEqual(['base']);
  }, 120_000);

  it('advanceCurrent moves current only forward (a finished run); setCurrent may roll back (an operator)', async () => {
    for (const version of ['v2', 'v3', 'v10']) await publishSmall(registry, 'screw', version);
    await expect(registry.advanceCurrent('screw', 'v2')).resolves.toBe(true);
    await expect(registry.advanceCurrent('screw', 'v10')).resolves.toBe(true);
    await expect(registry.advanceCurrent('screw', 'v3')).resolves.toBe(false);
    expect(await registry.getCurrent('screw')).toBe('v10');
    // A retried publish of the current version finds it current already.
    await expect(registry.advanceCurrent('screw', 'v10')).resolves.toBe(true);
    await expect(registry.advanceCurrent('screw', 'v11')).rejects.toThrow(ModelNotFoundError);
    await registry.setCurrent('screw', 'v2');
    expect(await registry.getCurrent('screw')).toBe('v2');
    await expect(registry.advanceCurrent('screw', 'v3')).resolves.toBe(true);
    expect(await registry.getCurrent('screw')).toBe('v3');
  });

  it('removes the files of a version that was never published, and leaves a published one whole', async () => {
    await publishSmall(registry, 'screw', 'v1');
    await registry.writeArtifact('screw', 'v2', 'mean.f32', Buffer.from('uploaded before the reduce failed'));
    await registry.writeArtifact('screw', 'v2', 'inv_cholesky.f32', Buffer.from('also'));
    await expect(registry.deleteUnpublishedVersion('screw', 'v2')).resolves.toBe(2);
    await expect(registry.deleteUnpublishedVersion('screw', 'v1')).resolves.toBe(0);
    expect(await collect(store.list('models/screw/'))).toEqual([
      expect.objectContaining({ key: 'models/screw/v1/manifest.json' }),
      expect.objectContaining({ key: 'models/screw/v1/mean.f32' }),
    ]);
  });

  it('rejects bad category, version and artifact names before touching the store', async () => {
    for (const bad of ['../x', 'a/b', '.x', '', 'x'.repeat(65)]) {
      expect(() => validateCategory(bad)).toThrow(InvalidKeyError);
      expect(() => validateCategory(bad)).toThrow(`category ${JSON.stringify(bad)}: `);
      await expect(registry.writeArtifact(bad, 'v1', 'mean.f32', Buffer.from('x'))).rejects.toThrow(InvalidKeyError);
      await expect(registry.listVersions(bad)).rejects.toThrow(InvalidKeyError);
      await expect(registry.getCurrent(bad)).rejects.toThrow(InvalidKeyError);
      await expect(registry.writeArtifact('screw', bad, 'mean.f32', Buffer.from('x'))).rejects.toThrow(InvalidKeyError);
    }
    await expect(registry.writeArtifact('screw', 'v1', '../escape', Buffer.from('x'))).rejects.toThrow(/artifact name/);
    await expect(registry.writeArtifact('screw', 'v1', 'manifest.json', Buffer.from('{}'))).rejects.toThrow(/writeManifest/);
    expect(await collect(store.list(''))).toEqual([]);
  });
}

describe('compareVersions', () => {
  it('orders digit runs numerically', () => {
    expect(['v10', 'v2', 'v1', 'v2.1', 'a', '2024-06-01', '2023-12-31'].sort(compareVersions)).toEqual([
      '2023-12-31',
      '2024-06-01',
      'a',
      'v1',
      'v2',
      'v2.1',
      'v10',
    ]);
  });
});

describe('ModelRegistry on a local folder', () => {
  let base: string;

  beforeAll(async () => {
    base = await fs.mkdtemp(path.join(os.tmpdir(), 'padim-registry-'));
  });

  afterAll(async () => {
    await fs.rm(base, { recursive: true, force: true });
  });

  registryCases(
    async () => new LocalBlobStore(path.join(base, testName())),
    async (store) => fs.rm((store as LocalBlobStore).root, { recursive: true, force: true }),
  );
});

describeWithS3('ModelRegistry on S3 (radosgw)', () => {
  let bucket: string;

  beforeAll(async () => {
    bucket = await createTestBucket();
  });

  afterAll(async () => {
    if (bucket) await removeTestBucket(bucket);
  });

  registryCases(
    async () => s3TestStore(bucket, { listPageSize: 2 }),
    async (store) => {
      const s3 = store as S3BlobStore;
      const whole = s3TestStore(bucket, { prefix: '' });
      try {
        await whole.deletePrefix(s3.prefix);
      } finally {
        await Promise.all([whole.close(), s3.close()]);
      }
    },
  );
});
