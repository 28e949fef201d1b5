import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { BlobStore, LocalBlobStore } from '@padim-fleet/storage';
import { FAKE_SCORER_SIDE as SIDE, fakeScorer } from '../testing/fake-scorer';
import { ScoringSummary } from './score-row';
import { ScoreItem, scoreToStore, writeScoringResults } from './score-to-store';

const grey = (v: number) =>
  sharp({ create: { width: 24, height: 24, channels: 3, background: { r: v, g: v, b: v } } })
    .png()
    .toBuffer();

/** An in-memory store that counts puts in flight and can be made slow or failing. */
class MemoryStore {
  readonly location = 'memory://test';
  readonly blobs = new Map<string, Buffer>();
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly opts: { delayMs?: number; failOn?: RegExp } = {}) {}
  async put(key: string, body: Uint8Array | string): Promise<{ size: number }> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((r) => setTimeout(r, this.opts.delayMs ?? 0));
      if (this.opts.failOn?.test(key)) throw new Error(`disk full writing ${key}`);
      const buffer = Buffer.from(body);
      this.blobs.set(key, buffer);
      return { size: buffer.length };
    } finally {
      this.inFlight--;
    }
  }
  asStore(): BlobStore {
    return this as unknown as BlobStore;
  }
}

let dir: string;
const images: Record<string, Buffer> = {};

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'score-to-store-'));
  for (const [name, v] of [
    ['dark', 0],
    ['mid', 128],
    ['bright', 255],
    ['dim', 40],
    ['light', 200],
  ] as const)
    images[`${name}.png`] = await grey(v);
  images['cut.png'] = images['bright.png'].subarray(0, 60);
  images['empty.png'] = Buffer.alloc(0);
  images['notes.txt'] = Buffer.from('plain text');
  for (const [name, bytes] of Object.entries(images)) await fs.writeFile(path.join(dir, name), bytes);
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

const fromMemory = async (ref: string) => {
  const bytes = images[ref];
  if (!bytes) throw new Error(`${ref}: missing`);
  return bytes;
};

describe('scoreToStore', () => {
  const names = ['dark.png', 'cut.png', 'bright.png', 'notes.txt', 'mid.png', 'empty.png', 'dim.png', 'light.png'];

  it('gives one row per item in input order, errors as rows, and writes a heatmap and a mask per scored image', async () => {
    const store = new MemoryStore();
    const items: ScoreItem[] = names.map((n) => ({ file: `set/${n}`, ref: n }));
    const rows = await scoreToStore(fakeScorer(), items, { output: store.asStore(), prefix: 'jobs/7/', read: fromMemory, batchSize: 3 });
    expect(rows.map((r) => r.file)).toEqual(items.map((i) => i.file));
    const byName = Object.fromEntries(rows.map((r) => [r.file.slice(4), r]));
    expect(byName['bright.png']).toMatchObject({ label: 'anomalous', maxX: 4, maxY: 4, threshold: 0.5, error: null });
    expect(byName['dark.png']).toMatchObject({ label: 'normal', normalizedScore: 0 });
    expect(byName['light.png'].score!).toBeGreaterThan(byName['mid.png'].score!);
    expect(byName['cut.png'].error).toMatch(/^corrupt or truncated image/);
    expect(byName['empty.png'].error).toBe('empty file (0 bytes)');
    expect(byName['notes.txt'].error).toMatch(/^not a supported image/);
    for (const r of rows.filter((row) => row.error !== null)) expect(r).toMatchObject({ score: null, label: null, heatmap: null, mask: null });
    const scored = rows.filter((r) => r.error === null);
    expect(scored).toHaveLength(5);
    expect(store.blobs.size).toBe(10);
    for (const r of scored) {
      expect(r.heatmap).toMatch(/^heatmaps\/set__.*\.png$/);
      expect(r.mask).toBe(r.heatmap!.replace('heatmaps/', 'masks/'));
      const overlay = await sharp(store.blobs.get(`jobs/7/${r.heatmap}`)!).metadata();
      expect(overlay).toMatchObject({ format: 'png', width: SIDE, height: SIDE, channels: 3 });
      const maskPng = store.blobs.get(`jobs/7/${r.mask}`)!;
      expect(await sharp(maskPng).metadata()).toMatchObject({ format: 'png', width: SIDE, height: SIDE });
      const mask = await sharp(maskPng).extractChannel(0).raw().toBuffer();
      expect(mask.every((v) => v === 0 || v === 255)).toBe(true);
      // The peak cell is at or over the pixel threshold exactly when the image is.
      expect(mask[5 * SIDE + 5]).toBe(r.score! >= 0.5 ? 255 : 0);
    }
  });

  it('reads local paths by default and names errors by file, not by path', async () => {
    const items = ['mid.png', 'notes.txt'].map((n) => ({ file: n, ref: path.join(dir, n) }));
    const store = new MemoryStore();
    const rows = await scoreToStore(fakeScorer(), items, { output: store.asStore(), prefix: '' });
    expect(rows[0]).toMatchObject({ file: 'mid.png', label: 'normal', heatmap: 'heatmaps/mid.png', mask: 'masks/mid.png' });
    expect(rows[1].error).toMatch(/^not a supported image/);
    expect(rows[1].error).not.toContain(dir);
    expect([...store.blobs.keys()].sort()).toEqual(['heatmaps/mid.png', 'masks/mid.png']);
  });

  it('gives items of the same name PNGs of their own, each rendered from its own image', async () => {
    const store = new MemoryStore();
    const items = [
      { file: '000.png', ref: 'bright.png' },
      { file: '000.png', ref: 'dark.png' },
    ];
    const rows = await scoreToStore(fakeScorer(), items, { output: store.asStore(), prefix: 'req/', read: fromMemory });
    expect(rows.map((r) => r.file)).toEqual(['000.png', '000.png']);
    expect(rows[0].heatmap).not.toBe(rows[1].heatmap);
    expect(rows[0].mask).not.toBe(rows[1].mask);
    expect(store.blobs.size).toBe(4);
    const peak = async (key: string) =>
      (
        await sharp(store.blobs.get(`req/${key}`)!)
          .extractChannel(0)
          .raw()
          .toBuffer()
      )[5 * SIDE + 5];
    expect([await peak(rows[0].mask!), await peak(rows[1].mask!)]).toEqual([255, 0]);
    const overlays = await Promise.all(
      rows.map(async (r) =>
        (
          await sharp(store.blobs.get(`req/${r.heatmap}`)!)
            .raw()
            .toBuffer()
        ).reduce((a, v) => a + v, 0),
      ),
    );
    // The bright image's overlay is the brighter one.
    expect(overlays[0]).toBeGreaterThan(overlays[1]);
  });

  it('writes nothing without heatmaps', async () => {
    const store = new MemoryStore();
    const rows = await scoreToStore(fakeScorer(), [{ file: 'b.png', ref: 'bright.png' }], {
      output: store.asStore(),
      prefix: '',
      read: fromMemory,
      heatmaps: false,
    });
    expect(rows[0]).toMatchObject({ label: 'anomalous', heatmap: null, mask: null });
    expect(store.blobs.size).toBe(0);
  });

  it('keeps at most maxPendingWrites renders and uploads in flight, and finishes them all', async () => {
    const store = new MemoryStore({ delayMs: 15 });
    const items = Array.from({ length: 24 }, (_, i) => ({ file: `img-${i}.png`, ref: ['dark.png', 'mid.png', 'bright.png'][i % 3] }));
    const rows = await scoreToStore(fakeScorer(), items, { output: store.asStore(), prefix: '', read: fromMemory, batchSize: 4, maxPendingWrites: 2 });
    expect(rows.every((r) => r.error === null)).toBe(true);
    expect(store.blobs.size).toBe(48);
    expect(store.inFlight).toBe(0);
    // Each pending write is one heatmap and one mask put.
    expect(store.maxInFlight).toBeGreaterThan(2);
    expect(store.maxInFlight).toBeLessThanOrEqual(4);
  });

  it('fails when the output store fails, with nothing still writing afterwards', async () => {
    const store = new MemoryStore({ delayMs: 5, failOn: /masks\/img-3/ });
    const items = Array.from({ length: 12 }, (_, i) => ({ file: `img-${i}.png`, ref: 'mid.png' }));
    await expect(scoreToStore(fakeScorer(), items, { output: store.asStore(), prefix: '', read: fromMemory, batchSize: 2 })).rejects.toThrow(
      /disk full writing masks\/img-3/,
    );
    expect(store.inFlight).toBe(0);
  });

  it('refuses a prefix that does not end with /', async () => {
    await expect(scoreToStore(fakeScorer(), [], { output: new MemoryStore().asStore(), prefix: 'jobs/7' })).rejects.toThrow(TypeError);
  });
});

describe('writeScoringResults', () => {
  it('writes results.csv, results.jsonl and summary.json under the prefix', async () => {
    const out = path.join(dir, 'out');
    const store = new LocalBlobStore(out);
    const rows = await scoreToStore(
      fakeScorer(),
      ['bright.png', 'dark.png', 'notes.txt'].map((n) => ({ file: n, ref: n })),
      { output: store, prefix: 'run/', read: fromMemory },
    );
    const { summary, keys } = await writeScoringResults(store, 'run/', rows, { category: 'grey', version: '3', threshold: 0.5 });
    expect(keys).toEqual({ csv: 'run/results.csv', jsonl: 'run/results.jsonl', summary: 'run/summary.json' });
    const written = JSON.parse(await fs.readFile(path.join(out, 'run', 'summary.json'), 'utf8')) as ScoringSummary;
    expect(written).toEqual(summary);
    expect(written).toMatchObject({ images: 3, scored: 2, failed: 1, anomalous: 1, normal: 1, model: { category: 'grey', version: '3' } });
    expect(written.errors).toEqual([{ file: 'notes.txt', error: expect.stringMatching(/^not a supported image/) }]);
    const csv = (await fs.readFile(path.join(out, 'run', 'results.csv'), 'utf8')).split('\n');
    expect(csv).toHaveLength(5);
    const jsonl = (await fs.readFile(path.join(out, 'run', 'results.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(jsonl).toEqual(rows);
    await expect(fs.stat(path.join(out, 'run', rows[0].heatmap!))).resolves.toBeTruthy();
  });
});
