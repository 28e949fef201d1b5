/**
 * Bull Board at /admin/queues: behind the API keys (HTTP Basic password for a browser, or a bearer token),
 * over the fleet's queues under the API's queue prefix, and a page that loads in Chromium without errors.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import puppeteer, { type Browser, type ConsoleMessage } from 'puppeteer-core';
import { QueueName } from '@padim-fleet/contracts';
import { createRedis } from '@padim-fleet/fleet';
import { CHROMIUM, describeWithChromium } from '../support/chromium';
import { FleetApiClient } from '../support/fleet-api';
import { FleetProcess, REPO_ROOT, freePort } from '../support/fleet-processes';
import { describeWithRedis, redisTestUrl, testName } from '../support/services';

const API_KEY = 'e2e-queue-board-Hn4tY7wQ2kL9pX5zR8vC';
const SCREENSHOTS = path.join(REPO_ROOT, 'test-output/admin-queues');
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describeWithRedis('Bull Board at /admin/queues', () => {
  const prefix = testName();
  let scratch: string;
  let api: FleetProcess;
  let baseUrl: string;

  const get = (route: string, authorization?: string) => fetch(`${baseUrl}${route}`, { headers: authorization ? { authorization } : {} });

  beforeAll(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'padim-e2e-queue-board-'));
    const dataset = path.join(scratch, 'datasets', 'line');
    mkdirSync(dataset, { recursive: true });
    // Planning lists images by name and never decodes them; no worker runs, so the jobs stay queued.
    for (let i = 0; i < 4; i++) writeFileSync(path.join(dataset, `${i}.png`), Buffer.from(`not decoded ${i}`));
    const port = await freePort();
    api = await FleetProcess.startApi({
      REDIS_URL: redisTestUrl(),
      PADIM_QUEUE_PREFIX: prefix,
      PADIM_STORE: path.join(scratch, 'store'),
      PADIM_DATASET_ROOTS: path.join(scratch, 'datasets'),
      API_KEYS: API_KEY,
      API_PORT: String(port),
    });
    baseUrl = `http://127.0.0.1:${port}`;
    await new FleetApiClient(baseUrl, API_KEY).train({ category: 'line', dataset, holdout: 0, shards: 2 });
  }, 120_000);

  afterAll(async () => {
    await api?.kill('SIGTERM');
    // The run planned here was never meant to run: its jobs go with the suite's queue prefix.
    const redis = createRedis(redisTestUrl(), 'padim-e2e-cleanup');
    for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 500 })) if ((keys as string[]).length > 0) await redis.del(...(keys as string[]));
    await redis.quit();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }, 60_000);

  it('asks a browser for the key (401 with WWW-Authenticate: Basic), refuses a wrong one, and serves the page with the key as Basic password or bearer token', async () => {
    for (const route of ['/admin/queues', '/admin/queues/api/queues', '/ADMIN/queues/api/queues', '/admin/queues/static/favicon-32x32.png']) {
      const res = await get(route);
      expect([route, res.status, res.headers.get('www-authenticate')]).toEqual([route, 401, 'Basic realm="padim-fleet"']);
    }
    for (const wrong of [
      basic('admin', 'not-the-key-0123456789-0123456789'),
      basic('admin', ''),
      `Bearer not-the-key-0123456789-0123456789`,
      'Basic bm8tY29sb24=',
    ]) {
      const res = await get('/admin/queues', wrong);
      expect([wrong, res.status, res.headers.get('www-authenticate')]).toEqual([wrong, 401, 'Basic realm="padim-fleet"']);
    }
    for (const right of [basic('anyone', API_KEY), basic('', API_KEY), `Bearer ${API_KEY}`]) {
      const res = await get('/admin/queues', right);
      expect([right, res.status]).toEqual([right, 200]);
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      const html = await res.text();
      expect(html).toContain('<div id="root">');
      // Nothing from another origin (Bull Board's page links Google Fonts).
      expect(html).not.toMatch(/https?:\/\//);
    }
  });

  it("lists the fleet's queues with their job counts after a run was queued", async () => {
    const res = await get('/admin/queues/api/queues', basic('ops', API_KEY));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { queues: { name: string; counts: Record<string, number> }[] };
    const counts = Object.fromEntries(body.queues.map((q) => [q.name, q.counts]));
    expect(Object.keys(counts).sort()).toEqual(Object.values(QueueName).sort());
    // Two ExtractFeatures shards waiting; their FitGaussian parent waits for them.
    expect(counts[QueueName.Extract]).toMatchObject({ waiting: 2, active: 0, failed: 0 });
    expect(counts[QueueName.Reduce]).toMatchObject({ 'waiting-children': 1 });
    expect(counts[QueueName.Score]).toMatchObject({ waiting: 0, active: 0 });
    // Read-only: a job is not removed by hand.
    expect(
      (await fetch(`${baseUrl}/admin/queues/api/queues/${QueueName.Extract}/clean/waiting`, { method: 'PUT', headers: { authorization: `Bearer ${API_KEY}` } }))
        .status,
    ).toBe(405);
  });

  describeWithChromium('in headless Chromium', () => {
    let browser: Browser;

    beforeAll(async () => {
      browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
    });

    it('shows every queue with the key given as Basic credentials, without console errors', async () => {
      const page = await browser.newPage();
      const consoleErrors: string[] = [];
      page.on('console', (message: ConsoleMessage) => {
        if (message.type() === 'error') consoleErrors.push(`${message.text()} (${message.location().url ?? 'no url'})`);
      });
      page.on('pageerror', (error) => consoleErrors.push(`page error: ${(error as Error).message}`));
      await page.setViewport({ width: 1400, height: 900 });
      await page.authenticate({ username: 'ops', password: API_KEY });
      await page.goto(`${baseUrl}/admin/queues`, { waitUntil: 'networkidle0' });
      for (const name of Object.values(QueueName)) await page.waitForFunction((text: string) => document.body.innerText.includes(text), {}, name);
      const text = await page.evaluate(() => document.body.innerText);
      expect(text).toContain('padim-fleet queues');
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SCREENSHOTS, 'board.png') });
      // A queue's page lists its jobs through the JSON routes, with the same credentials.
      await page.goto(`${baseUrl}/admin/queues/queue/${QueueName.Extract}`, { waitUntil: 'networkidle0' });
      await page.waitForFunction(() => document.body.innerText.includes('ExtractFeatures'));
      await page.screenshot({ path: path.join(SCREENSHOTS, 'board-extract.png') });
      expect(consoleErrors).toEqual([]);
    }, 60_000);
  });
});
