import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, expect, it } from '@jest/globals';
import type { Job } from 'bullmq';
import { loadFleetConfig } from '@padim-fleet/contracts';
import { LocalBlobStore } from '@padim-fleet/storage';
import type { JobContext } from './job-context';
import { sweepOnlineResultsHandler } from './sweep-online-results.handler';
import { createFleetLogger } from '@padim-fleet/fleet';

const HOUR = 3600_000;

let root: string;
let store: LocalBlobStore;

/** Stores `key`, last written `hours` ago. */
async function putAged(key: string, hours: number): Promise<void> {
  await store.put(key, 'x');
  const at = new Date(Date.now() - hours * HOUR);
  await fs.utimes(path.join(root, key), at, at);
}

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'sweep-online-'));
  store = new LocalBlobStore(root);
});
afterEach(() => fs.rm(root, { recursive: true, force: true }));

it('removes the online results and uploads older than ONLINE_RESULTS_TTL_HOURS, and nothing else', async () => {
  await putAged('scores/old/heatmaps/a.png', 3);
  await putAged('scores/fresh/heatmaps/a.png', 1);
  await putAged('uploads/old-upload/000-a.png', 5);
  await putAged('models/screw/v1/manifest.json', 100);
  const ctx = {
    log: createFleetLogger({ LOG_LEVEL: 'silent' }, 'worker'),
    store,
    config: loadFleetConfig({ ONLINE_RESULTS_TTL_HOURS: '2' }),
  } as unknown as JobContext;
  expect(await sweepOnlineResultsHandler({} as Job, ctx)).toEqual({ removed: 2 });
  const left: string[] = [];
  for await (const info of store.list('')) left.push(info.key);
  expect(left.sort()).toEqual(['models/screw/v1/manifest.json', 'scores/fresh/heatmaps/a.png']);
});
