import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, expect, it } from '@jest/globals';
import { LocalBlobStore } from '@padim-fleet/storage';
import { sweepOnlineResults } from './sweep-online-results';

const root = mkdtempSync(path.join(os.tmpdir(), 'padim-sweep-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('removes the requests whose results are all older than the limit, and nothing else', async () => {
  const store = new LocalBlobStore(root);
  const hour = 3600_000;
  const now = Date.now();
  const age = (key: string, hours: number) => utimesSync(path.join(root, key), new Date(now - hours * hour), new Date(now - hours * hour));
  for (const key of [
    'scores/old/heatmaps/a.png',
    'scores/old/masks/a.png',
    'scores/mixed/heatmaps/a.png',
    'scores/mixed/masks/a.png',
    'scores/new/heatmaps/a.png',
    'models/screw/v1/manifest.json',
  ]) {
    await store.put(key, 'x');
  }
  age('scores/old/heatmaps/a.png', 30);
  age('scores/old/masks/a.png', 26);
  age('scores/mixed/heatmaps/a.png', 30);
  age('models/screw/v1/manifest.json', 100);
  expect(await sweepOnlineResults(store, 24 * hour, now)).toEqual(['old']);
  const left: string[] = [];
  for await (const info of store.list('')) left.push(info.key);
  expect(left.sort()).toEqual(['models/screw/v1/manifest.json', 'scores/mixed/heatmaps/a.png', 'scores/mixed/masks/a.png', 'scores/new/heatmaps/a.png']);
});

it('removes uploaded images older than the limit, left by a request whose API stopped before cleaning up', async () => {
  const store = new LocalBlobStore(path.join(root, 'uploads-case'));
  const hour = 3600_000;
  const now = Date.now();
  const age = (key: string, hours: number) => utimesSync(path.join(root, 'uploads-case', key), new Date(now - hours * hour), new Date(now - hours * hour));
  for (const key of ['uploads/gone/000-a.png', 'uploads/gone/001-b.png', 'uploads/live/000-a.png']) await store.put(key, 'x');
  age('uploads/gone/000-a.png', 30);
  age('uploads/gone/001-b.png', 25);
  expect(await sweepOnlineResults(store, 24 * hour, now)).toEqual(['gone']);
  const left: string[] = [];
  for await (const info of store.list('')) left.push(info.key);
  expect(left).toEqual(['uploads/live/000-a.png']);
});
