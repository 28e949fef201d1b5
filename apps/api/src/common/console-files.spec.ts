import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import { consoleFiles } from './console-files';

describe('consoleFiles', () => {
  let scratch: string;
  let server: ReturnType<ReturnType<typeof express>['listen']>;
  let base: string;

  beforeAll(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'padim-console-files-'));
    mkdirSync(path.join(scratch, 'built/assets'), { recursive: true });
    writeFileSync(path.join(scratch, 'built/index.html'), '<div id="app"></div>');
    writeFileSync(path.join(scratch, 'built/assets/index-abc.js'), 'console.log(1)');
    const app = express();
    app.use('/console', consoleFiles(path.join(scratch, 'built')));
    app.use('/unbuilt', consoleFiles(path.join(scratch, 'missing')));
    await new Promise<void>((resolve) => (server = app.listen(0, '127.0.0.1', resolve)));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(scratch, { recursive: true, force: true });
  });

  it('answers index.html for the app and every path below it, uncached, with a CSP that allows no inline script', async () => {
    for (const url of ['/console', '/console/', '/console/models?category=screw', '/console/batch/deep/path']) {
      const res = await fetch(`${base}${url}`);
      expect([url, res.status, await res.text()]).toEqual([url, 200, '<div id="app"></div>']);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self';");
    }
  });

  it('serves hashed assets for good, and a missing asset is a 404 rather than the index', async () => {
    const asset = await fetch(`${base}/console/assets/index-abc.js`);
    expect([asset.status, await asset.text()]).toEqual([200, 'console.log(1)']);
    expect(asset.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${base}/console/assets/index-old.js`)).status).toBe(404);
  });

  it('says how to build the console when it is not built', async () => {
    const res = await fetch(`${base}/unbuilt/runs`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { message: string }).message).toMatch(/the web console is not built .*run `npm run build`/);
  });
});
