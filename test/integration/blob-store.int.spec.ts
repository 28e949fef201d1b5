/**
 * The BlobStore contract against a local folder and against a real S3 server (radosgw, started by
 * infra/radosgw.sh), plus what is specific to each implementation.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { InvalidKeyError, LocalBlobStore, S3BlobStore, createBlobStore, type BlobStore } from '@padim-fleet/storage';
import { blobStoreContract, collect, generatedStream, sha256OfStream } from './blob-store.contract';
import { createTestBucket, describeWithS3, removeTestBucket, s3TestSettings, s3TestStore, testName } from '../support/services';

const LIST_PAGE_SIZE = 3;

describe('LocalBlobStore', () => {
  let base: string;

  beforeAll(async () => {
    base = await fs.mkdtemp(path.join(os.tmpdir(), 'padim-blob-'));
  });

  afterAll(async () => {
    await fs.rm(base, { recursive: true, force: true });
  });

  blobStoreContract(
    'local folder',
    async () => new LocalBlobStore(path.join(base, testName())),
    async (store) => {
      await fs.rm((store as LocalBlobStore).root, { recursive: true, force: true });
    },
    {
      makeOffline: () => {
        // A root below a regular file can never exist: any I/O there fails.
        const file = path.join(base, 'not-a-folder');
        writeFileSync(file, '');
        return new LocalBlobStore(path.join(file, 'root'));
      },
      listPageSize: LIST_PAGE_SIZE,
    },
  );

  describe('files on disk', () => {
    let root: string;
    let store: LocalBlobStore;

    beforeEach(() => {
      root = path.join(base, testName());
      store = new LocalBlobStore(root);
    });

    afterEach(async () => {
      await fs.rm(root, { recursive: true, force: true });
    });

    it('gets a blob above 2 GiB (resnet50 d=550 factors are 2.5 GB), which fs.readFile refuses', async () => {
      await store.put('models/big/inv_cholesky.f32', 'x');
      const file = path.join(root, 'models/big/inv_cholesky.f32');
      const size = 2 ** 31 + 4096;
      // Sparse: no disk used; the last byte is set so the read is checked to the end.
      const handle = await fs.open(file, 'r+');
      await handle.truncate(size);
      await handle.write(Buffer.from([7]), 0, 1, size - 1);
      await handle.close();
      const bytes = await store.get('models/big/inv_cholesky.f32');
      expect([bytes.length, bytes[0], bytes[size - 1]]).toEqual([size, 'x'.charCodeAt(0), 7]);
    }, 60_000);

    it('does not list a temporary file left by a crashed write', async () => {
      await store.put('m/a/real.bin', 'real');
      mkdirSync(path.join(root, 'm', 'a'), { recursive: true });
      writeFileSync(path.join(root, 'm', 'a', '.x.tmp-0123456789ab'), 'half written');
      mkdirSync(path.join(root, 'm', 'only-tmp'), { recursive: true });
      writeFileSync(path.join(root, 'm', 'only-tmp', '.y.tmp-abcdef'), 'half written');

      expect((await collect(store.list(''))).map((b) => b.key)).toEqual(['m/a/real.bin']);
      expect(await store.listPrefixes('m/')).toEqual(['m/a/']);
      await expect(store.get('m/a/.x.tmp-0123456789ab')).rejects.toThrow(InvalidKeyError);
      // Removing the prefix also clears the leftovers and the emptied folders.
      await expect(store.deletePrefix('m/')).resolves.toBe(1);
      await expect(fs.readdir(root)).resolves.toEqual([]);
    });

    it('abortStaleWrites removes temporary files older than the bound, and the folders they leave empty', async () => {
      await store.put('w/real.bin', 'real');
      mkdirSync(path.join(root, 'w', 'deep'), { recursive: true });
      const old = path.join(root, 'w', 'deep', '.a.tmp-0123456789ab');
      const fresh = path.join(root, 'w', '.b.tmp-abcdef');
      writeFileSync(old, 'crashed long ago');
      writeFileSync(fresh, 'being written');
      const hourAgo = new Date(Date.now() - 3600_000);
      await fs.utimes(old, hourAgo, hourAgo);
      await expect(store.abortStaleWrites(10 * 60_000)).resolves.toBe(1);
      expect((await fs.readdir(path.join(root, 'w'))).sort()).toEqual(['.b.tmp-abcdef', 'real.bin']);
      await expect(store.abortStaleWrites(0, Date.now() + 1000)).resolves.toBe(1);
      expect(await fs.readdir(path.join(root, 'w'))).toEqual(['real.bin']);
      expect(await store.get('w/real.bin')).toEqual(Buffer.from('real'));
    });

    it('leaves no temporary files after puts, and removes emptied folders on delete', async () => {
      await store.put('d/e/f.bin', Buffer.alloc(10));
      const { stream } = generatedStream(3 * 1024 * 1024, 64 * 1024);
      await store.put('d/e/g.bin', stream);
      expect((await fs.readdir(path.join(root, 'd', 'e'))).sort()).toEqual(['f.bin', 'g.bin']);
      await store.delete('d/e/f.bin');
      await store.delete('d/e/g.bin');
      await expect(fs.readdir(root)).resolves.toEqual([]);
    });

    it('names its folder as a file:// URL', () => {
      expect(store.location).toBe(`file://${root}`);
    });

    it('refuses a key where a folder of other keys is', async () => {
      await store.put('k/child', 'x');
      await expect(store.put('k', 'y')).rejects.toThrow(/folder and a file/);
      await expect(store.get('k')).rejects.toThrow(/not found/);
      expect(await store.head('k')).toBeNull();
    });
  });

  it('createBlobStore makes a local store for a path', () => {
    const store = createBlobStore('some/relative/dir', { region: 'us-east-1', forcePathStyle: true });
    expect(store).toBeInstanceOf(LocalBlobStore);
    expect((store as LocalBlobStore).root).toBe(path.resolve('some/relative/dir'));
  });
});

describe('S3BlobStore without a server', () => {
  it('createBlobStore parses s3://bucket/prefix', async () => {
    const store = createBlobStore('s3://my-bucket/models/prod', { region: 'us-east-1', forcePathStyle: true, endpoint: 'http://127.0.0.1:1' });
    expect(store).toBeInstanceOf(S3BlobStore);
    expect(store.location).toBe('s3://my-bucket/models/prod');
    expect((store as S3BlobStore).prefix).toBe('models/prod/');
    await store.close?.();
    const bare = createBlobStore('s3://bare', { region: 'us-east-1', forcePathStyle: true });
    expect(bare.location).toBe('s3://bare');
    await bare.close?.();
  });

  it('reports an unreachable server with the location and endpoint', async () => {
    const store = new S3BlobStore({ ...s3TestSettings(), endpoint: 'http://127.0.0.1:1', bucket: 'b', maxAttempts: 1 });
    await expect(store.ping()).rejects.toThrow(/s3:\/\/b is unreachable at http:\/\/127\.0\.0\.1:1/);
    await store.close();
  });

  it('rejects a part size below S3 minimum', () => {
    expect(() => new S3BlobStore({ region: 'us-east-1', bucket: 'b', partSize: 1024 })).toThrow(/partSize/);
  });
});

describeWithS3('S3BlobStore on radosgw', () => {
  let bucket: string;
  const stores: S3BlobStore[] = [];

  beforeAll(async () => {
    bucket = await createTestBucket();
  });

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    if (bucket) await removeTestBucket(bucket);
  });

  /** Removes everything below a test store's own prefix, through a view of the whole bucket. */
  const wipe = async (prefix: string): Promise<void> => {
    const whole = s3TestStore(bucket, { prefix: '' });
    try {
      await whole.deletePrefix(prefix);
    } finally {
      await whole.close();
    }
  };

  const makeStore = async (): Promise<BlobStore> => {
    const store = s3TestStore(bucket, { listPageSize: LIST_PAGE_SIZE });
    stores.push(store);
    return store;
  };

  blobStoreContract('S3 (radosgw)', makeStore, async (store) => wipe((store as S3BlobStore).prefix), {
    makeOffline: () => new S3BlobStore({ ...s3TestSettings(), endpoint: 'http://127.0.0.1:1', bucket, maxAttempts: 1 }),
    listPageSize: LIST_PAGE_SIZE,
  });

  describe('S3 specifics', () => {
    let store: S3BlobStore;

    beforeEach(() => {
      store = s3TestStore(bucket, { partSize: 5 * 1024 * 1024, listPageSize: LIST_PAGE_SIZE });
      stores.push(store);
    });

    afterEach(async () => {
      await wipe(store.prefix);
    });

    it('uploads streams and large buffers in parts, and keeps every object below its prefix', async () => {
      const total = 12 * 1024 * 1024 + 7;
      const source = generatedStream(total, 256 * 1024);
      await expect(store.put('mp/stream', source.stream)).resolves.toEqual({ size: total });
      const head = await store.head('mp/stream');
      // The ETag of a multipart object is "<md5 of part md5s>-<parts>".
      expect(head?.etag).toMatch(/-3$/);
      expect(await sha256OfStream(await store.openRead('mp/stream'))).toEqual({ bytes: total, sha256: source.expected() });

      const big = Buffer.alloc(6 * 1024 * 1024, 3);
      await store.put('mp/buffer', big);
      expect((await store.head('mp/buffer'))?.etag).toMatch(/-2$/);
      expect((await store.get('mp/buffer')).equals(big)).toBe(true);

      const raw = s3TestStore(bucket, { prefix: '' });
      stores.push(raw);
      const all = (await collect(raw.list(store.prefix))).map((b) => b.key);
      expect(all).toEqual([`${store.prefix}mp/buffer`, `${store.prefix}mp/stream`]);
      await expect(store.deletePrefix('mp/')).resolves.toBe(2);
    });

    it('copies blobs over the copy part size part by part, server-side', async () => {
      const parted = s3TestStore(bucket, { prefix: store.prefix, copyPartSize: 5 * 1024 * 1024 });
      stores.push(parted);
      const total = 12 * 1024 * 1024 + 5;
      const source = generatedStream(total, 256 * 1024);
      await store.put('cp/big', source.stream);
      await expect(parted.copy('cp/big', 'cp/copy')).resolves.toEqual({ size: total });
      expect((await store.head('cp/copy'))?.etag).toMatch(/-3$/);
      expect(await sha256OfStream(await store.openRead('cp/copy'))).toEqual({ bytes: total, sha256: source.expected() });
      expect(() => s3TestStore(bucket, { copyPartSize: 1024 })).toThrow(/copyPartSize/);
    });

    it('abortStaleWrites aborts incomplete multipart uploads below its prefix that are older than the bound', async () => {
      const other = s3TestStore(bucket, { prefix: `${store.prefix}elsewhere-not-mine/` });
      stores.push(other);
      const started = await store.client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${store.prefix}crashed/partial` }));
      await store.client.send(
        new UploadPartCommand({
          Bucket: bucket,
          Key: `${store.prefix}crashed/partial`,
          UploadId: started.UploadId,
          PartNumber: 1,
          Body: Buffer.alloc(1024, 1),
        }),
      );
      const uploadsBelow = async (prefix: string) =>
        ((await store.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }))).Uploads ?? []).map((u) => u.Key);
      expect(await uploadsBelow(store.prefix)).toEqual([`${store.prefix}crashed/partial`]);
      // Younger than the bound: kept (it could be a write in progress).
      await expect(store.abortStaleWrites(3600_000)).resolves.toBe(0);
      // A store with another prefix does not touch it.
      await expect(other.abortStaleWrites(0, Date.now() + 60_000)).resolves.toBe(0);
      expect(await uploadsBelow(store.prefix)).toHaveLength(1);
      await expect(store.abortStaleWrites(0, Date.now() + 60_000)).resolves.toBe(1);
      expect(await uploadsBelow(store.prefix)).toEqual([]);
      expect(await store.head('crashed/partial')).toBeNull();
    });

    it('deletes more than 1000 objects in batches', async () => {
      const keys = Array.from({ length: 1003 }, (_, i) => `many/${String(i).padStart(4, '0')}`);
      for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, k)));
      const wide = s3TestStore(bucket, { prefix: store.prefix });
      stores.push(wide);
      expect((await collect(wide.list('many/'))).length).toBe(1003);
      await expect(wide.deletePrefix('many/')).resolves.toBe(1003);
      expect(await collect(wide.list('many/'))).toEqual([]);
    }, 120_000);

    it('reports a missing bucket clearly and ensureBucket creates it', async () => {
      const name = testName();
      const missing = s3TestStore(name);
      stores.push(missing);
      await expect(missing.ping()).rejects.toThrow(new RegExp(`bucket "${name}" does not exist`));
      await expect(missing.get('k')).rejects.toThrow(/does not exist/);
      await missing.ensureBucket();
      await missing.ensureBucket();
      await expect(missing.ping()).resolves.toBeUndefined();
      await removeTestBucket(name);
    });
  });
});
