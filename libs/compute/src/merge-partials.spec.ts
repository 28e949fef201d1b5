import { createHash } from 'node:crypto';
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { accumulateEmbeddings, createGaussianAccumulator, deserializeAccumulator, mergeGaussianAccumulators, mulberry32 } from '@padim-fleet/padim-core';
import { LocalBlobStore } from '@padim-fleet/storage';
import { accumulatorStream } from './accumulator-stream';
import { mergePartials } from './merge-partials';

const P = 37;
const d = 5;

function partial(seed: number, images: number) {
  const next = mulberry32(seed);
  const acc = createGaussianAccumulator(P, d);
  accumulateEmbeddings(
    acc,
    Float32Array.from({ length: images * d * P }, () => next() * 4 - 1),
    images,
  );
  return acc;
}

describe('mergePartials', () => {
  let dir: string;
  let store: LocalBlobStore;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'padim-merge-'));
    store = new LocalBlobStore(path.join(dir, 'store'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('marks the merge of one partial as that partial, with the hash of its bytes, so it can be copied in the store', async () => {
    const acc = partial(1, 6);
    await store.put('runs/r/partials/0', accumulatorStream(acc).stream);
    const merged = await mergePartials(store, ['runs/r/partials/0'], { dir: path.join(dir, 'one'), memoryBytes: 8 * 1024 });
    const file = await fs.readFile(merged.accumulatorFile);
    expect(file.equals(await store.get('runs/r/partials/0'))).toBe(true);
    expect(merged.sameAs).toEqual({ key: 'runs/r/partials/0', sha256: createHash('sha256').update(file).digest('hex'), bytes: file.length });
    expect(merged.blockPositions).toBeLessThan(P); // several blocks were hashed in turn
  });

  it('merges several partials into new statistics, which are not any one of them', async () => {
    const a = partial(2, 4);
    const b = partial(3, 7);
    await store.put('p/a', accumulatorStream(a).stream);
    await store.put('p/b', accumulatorStream(b).stream);
    const merged = await mergePartials(store, ['p/a', 'p/b'], { dir: path.join(dir, 'two') });
    expect(merged.sameAs).toBeUndefined();
    const fromFile = deserializeAccumulator(new Uint8Array(await fs.readFile(merged.accumulatorFile)));
    const reference = mergeGaussianAccumulators(a, b);
    expect(fromFile.count).toBe(11);
    expect(Array.from(fromFile.mean)).toEqual(Array.from(reference.mean));
    expect(Array.from(fromFile.comoment)).toEqual(Array.from(reference.comoment));
  });
});
