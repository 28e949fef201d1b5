/**
 * The behaviour every BlobStore must have, run against each implementation by blob-store.int.spec.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  BlobNotFoundError,
  BlobRangeError,
  InvalidKeyError,
  SizeLimitError,
  compareKeys,
  putLimited,
  type BlobInfo,
  type BlobStore,
} from '@padim-fleet/storage';

export interface BlobStoreContractOptions {
  /** A store of the same kind that cannot do any I/O (unreachable server, missing folder). */
  makeOffline?: () => BlobStore;
  /** The store's list page size, so the paging case creates more objects than one page. */
  listPageSize?: number;
}

export async function collect(items: AsyncIterable<BlobInfo>): Promise<BlobInfo[]> {
  const out: BlobInfo[] = [];
  for await (const item of items) out.push(item);
  return out;
}

export async function readStream(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer | string>) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

export async function sha256OfStream(stream: NodeJS.ReadableStream): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** A stream of `total` pseudo-random bytes made chunk by chunk; `expected()` is their SHA-256 once read. */
export function generatedStream(total: number, chunkSize = 1024 * 1024): { stream: Readable; expected: () => string } {
  const hash = createHash('sha256');
  let left = total;
  let digest: string | undefined;
  const stream = new Readable({
    read() {
      if (left === 0) {
        digest = hash.digest('hex');
        this.push(null);
        return;
      }
      const chunk = randomBytes(Math.min(chunkSize, left));
      left -= chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return {
    stream,
    expected: () => {
      if (digest === undefined) throw new Error('the generated stream has not been read to its end');
      return digest;
    },
  };
}

function pattern(length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = i % 251;
  return b;
}

const BAD_KEYS = ['../x', '/abs', 'a//b', 'a/./b', 'a\\b'];

export function blobStoreContract(
  name: string,
  makeStore: () => Promise<BlobStore>,
  cleanup: (store: BlobStore) => Promise<void>,
  options: BlobStoreContractOptions = {},
): void {
  describe(`BlobStore contract: ${name}`, () => {
    let store: BlobStore;

    beforeEach(async () => {
      store = await makeStore();
    });

    afterEach(async () => {
      if (store) await cleanup(store);
    });

    it('is ready and names its location', async () => {
      await expect(store.ping()).resolves.toBeUndefined();
      expect(store.location).toMatch(/^(file:\/\/\/|s3:\/\/)/);
    });

    it('round-trips bytes, strings and empty blobs', async () => {
      const bytes = randomBytes(4096);
      await expect(store.put('rt/bytes.bin', bytes)).resolves.toEqual({ size: 4096 });
      expect((await store.get('rt/bytes.bin')).equals(bytes)).toBe(true);

      const text = 'grüße, 世界 🚀\n';
      await expect(store.put('rt/text.txt', text, { contentType: 'text/plain' })).resolves.toEqual({ size: Buffer.byteLength(text) });
      expect((await store.get('rt/text.txt')).toString('utf8')).toBe(text);

      const view = new Uint8Array(bytes.buffer, bytes.byteOffset + 10, 20);
      await store.put('rt/view.bin', view);
      expect((await store.get('rt/view.bin')).equals(bytes.subarray(10, 30))).toBe(true);

      await expect(store.put('rt/empty', new Uint8Array(0))).resolves.toEqual({ size: 0 });
      expect((await store.get('rt/empty')).length).toBe(0);
      expect(await store.head('rt/empty')).toMatchObject({ key: 'rt/empty', size: 0 });

      const info = await store.head('rt/bytes.bin');
      expect(info).toMatchObject({ key: 'rt/bytes.bin', size: 4096 });
      // Dates made by Node's fs come from another realm than the test's, so no instanceof here.
      expect(typeof info?.lastModified?.getTime()).toBe('number');
    });

    it('streams a ~40 MiB upload made chunk by chunk and reads it back whole', async () => {
      const total = 40 * 1024 * 1024 + 12345;
      const source = generatedStream(total);
      await expect(store.put('big/stream.bin', source.stream)).resolves.toEqual({ size: total });
      expect((await store.head('big/stream.bin'))?.size).toBe(total);
      const back = await sha256OfStream(await store.openRead('big/stream.bin'));
      expect(back).toEqual({ bytes: total, sha256: source.expected() });
    });

    it('puts a small stream and an empty stream', async () => {
      await expect(store.put('s/small', Readable.from([Buffer.from('ab'), Buffer.from('cd')]))).resolves.toEqual({ size: 4 });
      expect((await store.get('s/small')).toString()).toBe('abcd');
      await expect(store.put('s/empty', Readable.from([]))).resolves.toEqual({ size: 0 });
      expect(await store.head('s/empty')).toMatchObject({ size: 0 });
    });

    it('fails a put whose source stream fails, leaving the previous object', async () => {
      await store.put('s/fail', 'previous');
      const source = new PassThrough();
      const put = store.put('s/fail', source);
      source.write(Buffer.alloc(1000, 1));
      source.destroy(new Error('source broke'));
      await expect(put).rejects.toThrow('source broke');
      expect((await store.get('s/fail')).toString()).toBe('previous');
    });

    it('abandons a limited put at the first byte over its limit, leaving no object and no unfinished write', async () => {
      const limit = 6 * 1024 * 1024 + 7;
      let produced = 0;
      async function* source(): AsyncGenerator<Buffer> {
        for (;;) {
          produced += 1024 * 1024;
          yield Buffer.alloc(1024 * 1024, 3);
        }
      }
      const err = await putLimited(store, 'limited/archive.zip', source(), { maxBytes: limit, what: 'archive' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SizeLimitError);
      expect((err as Error).message).toBe(`archive: larger than the limit of ${limit} bytes`);
      expect(produced).toBe(7 * 1024 * 1024);
      expect(await store.head('limited/archive.zip')).toBeNull();
      expect(await store.abortStaleWrites(0, Date.now() + 1000)).toBe(0);

      await expect(putLimited(store, 'limited/ok.zip', Readable.from([Buffer.alloc(limit, 1)]), { maxBytes: limit })).resolves.toEqual({ size: limit });
      const broken = new PassThrough();
      const put = putLimited(store, 'limited/broken.zip', broken, { maxBytes: limit });
      broken.write(Buffer.alloc(1000));
      broken.destroy(new Error('client went away'));
      await expect(put).rejects.toThrow(/^client went away$/);
      expect(await store.head('limited/broken.zip')).toBeNull();
    });

    it('shows readers the old object until a streamed put completes', async () => {
      await store.put('atomic/obj', 'old contents');
      const source = new PassThrough();
      const put = store.put('atomic/obj', source);
      source.write(Buffer.alloc(64 * 1024, 7));
      await new Promise((r) => setTimeout(r, 200));
      expect((await store.get('atomic/obj')).toString()).toBe('old contents');
      source.end(Buffer.alloc(64 * 1024, 7));
      await expect(put).resolves.toEqual({ size: 128 * 1024 });
      expect((await store.get('atomic/obj')).equals(Buffer.alloc(128 * 1024, 7))).toBe(true);
    });

    it('overwrites a key with a whole new object', async () => {
      await store.put('ow/key', pattern(100_000));
      await store.put('ow/key', 'short');
      expect((await store.get('ow/key')).toString()).toBe('short');
      expect((await store.head('ow/key'))?.size).toBe(5);
      await store.put('ow/key', pattern(3000));
      expect((await store.get('ow/key')).equals(pattern(3000))).toBe(true);
    });

    it('reads byte ranges at the start, middle and end', async () => {
      const data = pattern(1000);
      await store.put('range/obj', data);
      expect((await store.getRange('range/obj', 0, 10)).equals(data.subarray(0, 10))).toBe(true);
      expect((await store.getRange('range/obj', 500, 600)).equals(data.subarray(500, 600))).toBe(true);
      expect((await store.getRange('range/obj', 990, 1000)).equals(data.subarray(990, 1000))).toBe(true);
      expect((await store.getRange('range/obj', 0, 1000)).equals(data)).toBe(true);
      expect((await store.getRange('range/obj', 1000, 1000)).length).toBe(0);
      expect((await store.getRange('range/obj', 37, 37)).length).toBe(0);
    });

    it('fails clearly for a range past the end and for bad range arguments', async () => {
      await store.put('range/obj', pattern(1000));
      await expect(store.getRange('range/obj', 990, 1001)).rejects.toThrow(BlobRangeError);
      await expect(store.getRange('range/obj', 990, 1001)).rejects.toThrow(/\[990, 1001\).*range\/obj.*size 1000/);
      await expect(store.getRange('range/obj', 1000, 1010)).rejects.toThrow(BlobRangeError);
      await expect(store.getRange('range/obj', 5000, 5010)).rejects.toThrow(BlobRangeError);
      await expect(store.getRange('range/obj', 1001, 1001)).rejects.toThrow(BlobRangeError);
      await expect(store.getRange('range/obj', 10, 5)).rejects.toThrow(RangeError);
      await expect(store.getRange('range/obj', -1, 5)).rejects.toThrow(RangeError);
      await expect(store.getRange('range/missing', 0, 5)).rejects.toThrow(BlobNotFoundError);
      await expect(store.openRead('range/obj', { start: 900, end: 1100 })).rejects.toThrow(BlobRangeError);
    });

    it('opens a stream on a byte range', async () => {
      const data = pattern(300_000);
      await store.put('range/stream', data);
      expect((await readStream(await store.openRead('range/stream', { start: 1234, end: 250_000 }))).equals(data.subarray(1234, 250_000))).toBe(true);
      expect((await readStream(await store.openRead('range/stream', { start: 299_999, end: 300_000 }))).equals(data.subarray(299_999))).toBe(true);
      expect((await readStream(await store.openRead('range/stream', { start: 10, end: 10 }))).length).toBe(0);
      expect((await readStream(await store.openRead('range/stream'))).equals(data)).toBe(true);
    });

    it('reports missing blobs: head → null, get/openRead → BlobNotFoundError naming location and key', async () => {
      expect(await store.head('missing/key')).toBeNull();
      const err = await store.get('missing/key').then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(BlobNotFoundError);
      expect((err as Error).message).toContain('missing/key');
      expect((err as Error).message).toContain(store.location);
      await expect(store.openRead('missing/key')).rejects.toThrow(BlobNotFoundError);
    });

    it('lists every blob under a prefix recursively, in key order, across pages', async () => {
      // Byte order, not folder order: 'a-c' (0x2d) < 'a/…' (0x2f) < 'a0' (0x30).
      const keys = ['l/b', 'l/a/b', 'l/a-c', 'l/a0', 'l/a/a/z', 'l/A', 'l/é', 'l/a/a/y', 'l/z/1/2/3'];
      const pageSize = options.listPageSize ?? 3;
      expect(keys.length).toBeGreaterThan(pageSize);
      for (const [i, key] of keys.entries()) await store.put(key, `#${i}`);
      await store.put('lx/outside', 'x');

      const listed = await collect(store.list('l/'));
      expect(listed.map((b) => b.key)).toEqual([...keys].sort(compareKeys));
      expect(listed.find((b) => b.key === 'l/a0')?.size).toBe(2);

      expect((await collect(store.list('l/a'))).map((b) => b.key)).toEqual(['l/a-c', 'l/a/a/y', 'l/a/a/z', 'l/a/b', 'l/a0']);
      expect((await collect(store.list('l/a/'))).map((b) => b.key)).toEqual(['l/a/a/y', 'l/a/a/z', 'l/a/b']);
      expect((await collect(store.list('l/b'))).map((b) => b.key)).toEqual(['l/b']);
      expect(await collect(store.list('nothing/'))).toEqual([]);
      expect((await collect(store.list(''))).length).toBe(keys.length + 1);

      const many = Array.from({ length: pageSize * 3 + 1 }, (_, i) => `page/${String(i).padStart(3, '0')}`);
      for (const key of many) await store.put(key, key);
      expect((await collect(store.list('page/'))).map((b) => b.key)).toEqual(many);
    });

    it('lists the folders directly under a prefix', async () => {
      for (const key of ['p/x/1', 'p/x/2', 'p/y/z/1', 'p/top', 'p/xx/1', 'q']) await store.put(key, key);
      expect(await store.listPrefixes('p/')).toEqual(['p/x/', 'p/xx/', 'p/y/']);
      expect(await store.listPrefixes('p/x')).toEqual(['p/x/', 'p/xx/']);
      expect(await store.listPrefixes('p/y/')).toEqual(['p/y/z/']);
      expect(await store.listPrefixes('')).toEqual(['p/']);
      expect(await store.listPrefixes('p/x/')).toEqual([]);
      expect(await store.listPrefixes('none/')).toEqual([]);
    });

    it('copies a blob to another key, replacing what was there, and names a missing source', async () => {
      const bytes = randomBytes(3 * 1024 * 1024 + 17);
      await store.put('cp/source.bin', bytes);
      await store.put('cp/target.bin', 'previous');
      await expect(store.copy('cp/source.bin', 'cp/target.bin')).resolves.toEqual({ size: bytes.length });
      expect((await store.get('cp/target.bin')).equals(bytes)).toBe(true);
      expect((await store.get('cp/source.bin')).equals(bytes)).toBe(true);
      await expect(store.copy('cp/source.bin', 'cp/deeper/new.bin')).resolves.toEqual({ size: bytes.length });
      expect((await collect(store.list('cp/'))).map((b) => b.key)).toEqual(['cp/deeper/new.bin', 'cp/source.bin', 'cp/target.bin']);
      await expect(store.copy('cp/missing.bin', 'cp/other.bin')).rejects.toThrow(BlobNotFoundError);
      await expect(store.copy('cp/missing.bin', 'cp/other.bin')).rejects.toThrow(/cp\/missing\.bin/);
      expect(await store.head('cp/other.bin')).toBeNull();
    });

    it('deletes idempotently', async () => {
      await store.put('del/key', 'x');
      await store.delete('del/key');
      expect(await store.head('del/key')).toBeNull();
      await expect(store.delete('del/key')).resolves.toBeUndefined();
      await expect(store.delete('del/never/existed')).resolves.toBeUndefined();
      expect(await store.listPrefixes('')).toEqual([]);
    });

    it('deletes a prefix and counts what it removed; refuses the empty prefix', async () => {
      for (const key of ['dp/1', 'dp/2', 'dp/a/3', 'dp/a/b/4', 'dp/c/5', 'dpx/keep', 'keep']) await store.put(key, key);
      await expect(store.deletePrefix('dp/')).resolves.toBe(5);
      expect((await collect(store.list(''))).map((b) => b.key)).toEqual(['dpx/keep', 'keep']);
      expect(await store.listPrefixes('')).toEqual(['dpx/']);
      await expect(store.deletePrefix('dp/')).resolves.toBe(0);
      await expect(store.deletePrefix('')).rejects.toThrow(/empty prefix/);
      await expect(store.deletePrefix('dpx')).resolves.toBe(1);
      expect((await collect(store.list(''))).map((b) => b.key)).toEqual(['keep']);
    });

    it('deletes more blobs than one list page', async () => {
      const keys = Array.from({ length: (options.listPageSize ?? 3) * 2 + 2 }, (_, i) => `bulk/${i}`);
      await Promise.all(keys.map((k) => store.put(k, k)));
      await expect(store.deletePrefix('bulk/')).resolves.toBe(keys.length);
      expect(await collect(store.list('bulk/'))).toEqual([]);
    });

    it.each(BAD_KEYS)('rejects the invalid key %j in every method', async (bad) => {
      await expect(store.put(bad, 'x')).rejects.toThrow(InvalidKeyError);
      await expect(store.get(bad)).rejects.toThrow(InvalidKeyError);
      await expect(store.getRange(bad, 0, 1)).rejects.toThrow(InvalidKeyError);
      await expect(store.openRead(bad)).rejects.toThrow(InvalidKeyError);
      await expect(store.head(bad)).rejects.toThrow(InvalidKeyError);
      await expect(store.delete(bad)).rejects.toThrow(InvalidKeyError);
      await expect(collect(store.list(`${bad}/`))).rejects.toThrow(InvalidKeyError);
      await expect(store.listPrefixes(`${bad}/`)).rejects.toThrow(InvalidKeyError);
      await expect(store.deletePrefix(`${bad}/`)).rejects.toThrow(InvalidKeyError);
      expect(await collect(store.list(''))).toEqual([]);
    });

    if (options.makeOffline) {
      const makeOffline = options.makeOffline;
      it('rejects invalid keys before any I/O (store that cannot reach anything)', async () => {
        const offline = makeOffline();
        try {
          for (const bad of BAD_KEYS) {
            await expect(offline.put(bad, 'x')).rejects.toThrow(InvalidKeyError);
            await expect(offline.get(bad)).rejects.toThrow(InvalidKeyError);
            await expect(offline.head(bad)).rejects.toThrow(InvalidKeyError);
            await expect(offline.delete(bad)).rejects.toThrow(InvalidKeyError);
            await expect(collect(offline.list(`${bad}/`))).rejects.toThrow(InvalidKeyError);
          }
          await expect(offline.ping()).rejects.toThrow(/.+/);
        } finally {
          await offline.close?.();
        }
      });
    }
  });
}
