import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, it } from '@jest/globals';
import { UnreadableImageError } from '@padim-fleet/inference';
import { LocalBlobStore, S3BlobStore } from '@padim-fleet/storage';
import { freePort } from './testing/fleet-process';
import { storeImageReader } from './image-source';

const root = mkdtempSync(path.join(os.tmpdir(), 'padim-image-source-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('reads images by key; a key gone since it was listed is that image\'s error', async () => {
  const store = new LocalBlobStore(root);
  await store.put('in/a.png', 'bytes');
  const read = storeImageReader(store);
  expect((await read('in/a.png')).toString()).toBe('bytes');
  await expect(read('in/gone.png')).rejects.toBeInstanceOf(UnreadableImageError);
});

it('throws the store\'s own failure when the store cannot be reached, so the job is retried', async () => {
  const closed = await freePort();
  const store = new S3BlobStore({ endpoint: `http://127.0.0.1:${closed}`, region: 'us-east-1', forcePathStyle: true, bucket: 'nowhere', accessKeyId: 'a', secretAccessKey: 'b' });
  const error = await storeImageReader(store)('in/a.png').then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  expect(error).not.toBeInstanceOf(UnreadableImageError);
  store.close?.();
});
