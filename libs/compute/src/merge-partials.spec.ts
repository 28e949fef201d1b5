import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs, mkdtempSync, rmSync, statSync } from 'node:fs';
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

  it('fails with the store error of a block read ahead, without an unhandled rejection that would end the worker', () => {
    // In its own Node process: an unhandled rejection ends a worker, and Jest's sandbox does not see one.
    const root = path.resolve(__dirname, '../../..');
    const built = path.join(root, 'libs/compute/dist/merge-partials.js');
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(path.join(__dirname, 'merge-partials.ts')).mtimeMs) {
      throw new Error(`${built} is missing or older than its source: run \`npm run build\` first`);
    }
    const script = `
      const path = require('node:path');
      const core = require('@padim-fleet/padim-core');
      const { LocalBlobStore } = require('@padim-fleet/storage');
      const { mergePartials, accumulatorStream } = require('@padim-fleet/compute');
      const unhandled = [];
      process.on('unhandledRejection', (reason) => unhandled.push(String(reason)));
      (async () => {
        const dir = process.argv[1];
        const store = new LocalBlobStore(path.join(dir, 'store'));
        for (const [key, seed] of [['p/a', 4], ['p/b', 5]]) {
          const next = core.mulberry32(seed);
          const acc = core.createGaussianAccumulator(${P}, ${d});
          core.accumulateEmbeddings(acc, Float32Array.from({ length: 5 * ${d} * ${P} }, () => next() * 4 - 1), 5);
          await store.put(key, accumulatorStream(acc).stream);
        }
        // Every block after the first fails to read: the second is read ahead while the first is finalised.
        const failing = Object.create(store);
        failing.getRange = async (key, from, to) => {
          if (from > core.ACCUMULATOR_HEADER_BYTES) throw new Error('the store went away');
          return store.getRange(key, from, to);
        };
        const error = await mergePartials(failing, ['p/a', 'p/b'], { dir: path.join(dir, 'out'), memoryBytes: 2048 }).then(() => null, (e) => e.message);
        await new Promise((resolve) => setTimeout(resolve, 100));
        console.log(JSON.stringify({ error, unhandled }));
      })();`;
    const out = execFileSync(process.execPath, ['-e', script, dir], { encoding: 'utf8', cwd: root });
    expect(JSON.parse(out.trim().split('\n').pop()!)).toEqual({ error: 'the store went away', unhandled: [] });
  });
});
