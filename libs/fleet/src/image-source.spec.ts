import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { UnreadableImageError, trainingRequest } from '@padim-fleet/contracts';
import { LocalBlobStore, S3BlobStore, StoreUnavailableError } from '@padim-fleet/storage';
import { freePort } from '../../../test/support/fleet-processes';
import { openImageSource, readImageObject, storeImageReader } from './image-source';
import { planTraining } from './plan-training';
import { TooManyInputsError, listScoringInputs } from './scoring-runs';

describe('bounded reads and listings of stored images', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'padim-image-source-'));
  const store = new LocalBlobStore(root);
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('reads an image object up to IMAGE_MAX_BYTES and refuses a larger one, naming it', async () => {
    const bytes = Buffer.alloc(300_000, 7);
    await store.put('images/big.png', bytes);
    expect((await readImageObject(store, 'images/big.png', 300_000)).equals(bytes)).toBe(true);
    await expect(readImageObject(store, 'images/big.png', 299_999)).rejects.toThrow('images/big.png: larger than 299999 bytes (IMAGE_MAX_BYTES)');
    // Too large is that image's error, not a reason to retry the job.
    await expect(storeImageReader(store, 299_999)('images/big.png')).rejects.toBeInstanceOf(UnreadableImageError);
    const source = openImageSource({ kind: 'store', prefix: 'images/' }, { region: 'us-east-1', forcePathStyle: true }, store, 1000);
    await expect(source.read!('images/big.png')).rejects.toThrow(/larger than 1000 bytes/);
  });

  it('lists a scoring input prefix up to SCORING_MAX_INPUTS and refuses a larger one, naming it', async () => {
    for (let i = 0; i < 4; i++) await store.put(`incoming/${i}.png`, Buffer.from('x'));
    expect((await listScoringInputs(store, 'incoming/', 'store:incoming/', 4)).map((i) => i.file)).toEqual(['0.png', '1.png', '2.png', '3.png']);
    await expect(listScoringInputs(store, 'incoming/', 'store:incoming/', 3)).rejects.toThrow(
      new TooManyInputsError('input store:incoming/: more than 3 files (SCORING_MAX_INPUTS)'),
    );
  });
});

const readerRoot = mkdtempSync(path.join(os.tmpdir(), 'padim-image-source-'));
afterAll(() => rmSync(readerRoot, { recursive: true, force: true }));

it("reads images by key; a key gone since it was listed is that image's error", async () => {
  const store = new LocalBlobStore(readerRoot);
  await store.put('in/a.png', 'bytes');
  const read = storeImageReader(store);
  expect((await read('in/a.png')).toString()).toBe('bytes');
  await expect(read('in/gone.png')).rejects.toBeInstanceOf(UnreadableImageError);
});

it("throws the store's own failure when the store cannot be reached, so the job is retried", async () => {
  const closed = await freePort();
  const store = new S3BlobStore({
    endpoint: `http://127.0.0.1:${closed}`,
    region: 'us-east-1',
    forcePathStyle: true,
    bucket: 'nowhere',
    accessKeyId: 'a',
    secretAccessKey: 'b',
  });
  const error = await storeImageReader(store)('in/a.png').then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  expect(error).not.toBeInstanceOf(UnreadableImageError);
  expect(error).toBeInstanceOf(StoreUnavailableError);
  // Planning a run on it is a store outage (503 at the API), not a bad dataset (400).
  const planned = await planTraining(trainingRequest.parse({ category: 'line', dataset: 'store:in/' }), {
    runId: 'plan-outage-0001',
    createdAt: new Date(),
    datasetRoots: [],
    s3: { region: 'us-east-1', forcePathStyle: true },
    store,
  }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(planned).toBeInstanceOf(StoreUnavailableError);
  store.close?.();
});
