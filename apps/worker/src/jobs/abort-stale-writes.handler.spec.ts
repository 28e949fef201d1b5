import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, expect, it } from '@jest/globals';
import { Job, UnrecoverableError } from 'bullmq';
import { loadFleetConfig } from '@padim-fleet/contracts';
import { LocalBlobStore } from '@padim-fleet/storage';
import type { JobContext } from './job-context';
import { abortStaleWritesHandler } from './abort-stale-writes.handler';
import { createFleetLogger } from '@padim-fleet/fleet';

let root: string;
let ctx: JobContext;

/** A temporary file as a crashed write leaves it, last written `hours` ago. */
async function leftoverWrite(name: string, hours: number): Promise<string> {
  const file = path.join(root, 'models', name);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, 'partial');
  const at = new Date(Date.now() - hours * 3600_000);
  await fs.utimes(file, at, at);
  return file;
}

const exists = (file: string) =>
  fs.stat(file).then(
    () => true,
    () => false,
  );

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'abort-stale-'));
  ctx = {
    log: createFleetLogger({ LOG_LEVEL: 'silent' }, 'worker'),
    store: new LocalBlobStore(root),
    config: loadFleetConfig({ STALE_WRITE_HOURS: '6' }),
  } as unknown as JobContext;
});
afterEach(() => fs.rm(root, { recursive: true, force: true }));

it('aborts the unfinished writes older than STALE_WRITE_HOURS and keeps the recent ones and the stored objects', async () => {
  await ctx.store.put('models/screw/v1/manifest.json', '{}');
  const stale = await leftoverWrite('screw/v1/.mean.f32.tmp-0123456789ab', 7);
  const recent = await leftoverWrite('screw/v1/.inv_cholesky.f32.tmp-0123456789ac', 1);
  expect(await abortStaleWritesHandler({ id: 'abort-stale-writes', data: {} } as unknown as Job, ctx)).toEqual({ aborted: 1 });
  expect(await exists(stale)).toBe(false);
  expect(await exists(recent)).toBe(true);
  expect(await ctx.store.head('models/screw/v1/manifest.json')).not.toBeNull();
});

it('fails a payload its contract refuses without retries', async () => {
  await expect(abortStaleWritesHandler({ id: 'abort-stale-writes', data: { hours: 1 } } as unknown as Job, ctx)).rejects.toBeInstanceOf(UnrecoverableError);
});
