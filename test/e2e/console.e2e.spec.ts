import { createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import puppeteer, { type Browser, type ConsoleMessage, type Page } from 'puppeteer-core';
import { ZipFile } from 'yazl';
import type { OnlineScoreResponse, ScoringSummary, TrainingStatus } from '@padim-fleet/contracts';
import { describeWithShared, sharedPath } from '../../libs/inference/src/testing/shared-data';
import { CHROMIUM, describeWithChromium } from '../support/chromium';
import { FleetApiClient } from '../support/fleet-api';
import { setUpFleetE2e, tearDownFleetE2e, type FleetE2e } from '../support/fleet-e2e';
import { FleetProcess, REPO_ROOT } from '../support/fleet-processes';
import { describeWithRedis, describeWithS3, redisTestUrl } from '../support/services';

const API_KEY = 'e2e-console-Vb7kR2mQ9xT4wL6nZ3pH';
const SCREW = sharedPath('datasets/mvtec-ad/screw');
const SCREENSHOTS = path.join(REPO_ROOT, 'test-output/console');
/** A small training set: enough for a model, quick to train on two cores. */
const TRAINING_IMAGES = 12;
const SCORED = ['good/000.png', 'scratch_head/000.png'];

/** The console's text as a number, as it formats one (3 decimals). */
const shown = (value: number | null) => (value === null ? '—' : Number.isInteger(value) ? String(value) : value.toFixed(3));

async function zipFiles(files: { name: string; file: string }[], out: string): Promise<void> {
  const zip = new ZipFile();
  for (const f of files) zip.addFile(f.file, f.name);
  zip.end();
  await new Promise<void>((resolve, reject) => zip.outputStream.pipe(createWriteStream(out)).on('close', resolve).on('error', reject));
}

describeWithShared('web console end to end in headless Chromium', () => {
  describeWithChromium('with Chromium', () => {
    describeWithRedis('with Redis', () => {
      describeWithS3('with S3', () => {
        let setup: FleetE2e;
        let api: FleetProcess;
        let worker: FleetProcess;
        let client: FleetApiClient;
        let browser: Browser;
        let page: Page;
        let baseUrl: string;
        let dataset: string;
        /** Console errors and failed page scripts; `allowed` takes those a step provokes on purpose (a 400, a 401). */
        const consoleErrors: string[] = [];
        const allowed: RegExp[] = [];

        async function screenshot(name: string): Promise<void> {
          await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
        }

        async function openPage(id: 'runs' | 'models' | 'score' | 'batch'): Promise<void> {
          await page.click(`nav a[data-page="${id}"]`);
          await page.waitForSelector(`nav a[data-page="${id}"].active`);
        }

        /** Waits until every image matched by `selector` (at least `count`) has loaded with pixels. */
        async function imagesLoaded(selector: string, count: number): Promise<number[]> {
          await page.waitForFunction(
            (sel: string, n: number) => {
              const images = [...document.querySelectorAll<HTMLImageElement>(sel)];
              return images.length >= n && images.every((img) => img.complete && img.naturalWidth > 0);
            },
            { timeout: 60_000 },
            selector,
            count,
          );
          return page.$$eval(selector, (images) => images.map((img) => (img as HTMLImageElement).naturalWidth));
        }

        /** Waits until the form's category picker offers screw (the models are read when the page opens). */
        async function modelOffered(form: string): Promise<void> {
          await page.waitForFunction(
            (sel: string) => [...document.querySelectorAll<HTMLOptionElement>(sel)].some((o) => o.value === 'screw'),
            {},
            `${form} select[name=category] option`,
          );
        }

        async function textOf(selector: string): Promise<string> {
          return page.$eval(selector, (el) => (el as HTMLElement).innerText.trim());
        }

        beforeAll(async () => {
          setup = await setUpFleetE2e({
            redisUrl: redisTestUrl(),
            apiKey: API_KEY,
            scratchPrefix: 'padim-e2e-console-',
            extra: (scratch) => ({ PADIM_DATASET_ROOTS: scratch, PADIM_SCRATCH_DIR: path.join(scratch, 'reduce'), WORKER_ROLES: 'extract,reduce,score' }),
          });
          dataset = path.join(setup.scratch, 'screw-small');
          await fs.mkdir(dataset, { recursive: true });
          const names = (await fs.readdir(path.join(SCREW, 'train/good'))).sort().slice(0, TRAINING_IMAGES);
          for (const name of names) await fs.copyFile(path.join(SCREW, 'train/good', name), path.join(dataset, name));
          await fs.mkdir(SCREENSHOTS, { recursive: true });
          api = await FleetProcess.startApi(setup.env);
          worker = await FleetProcess.startWorker('worker', setup.env);
          baseUrl = `http://127.0.0.1:${setup.port}`;
          client = new FleetApiClient(baseUrl, API_KEY);

          browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
          page = await browser.newPage();
          await page.setViewport({ width: 1400, height: 900 });
          page.on('console', (message: ConsoleMessage) => {
            if (message.type() === 'error') consoleErrors.push(`${message.text()} (${message.location().url ?? 'no url'})`);
          });
          page.on('pageerror', (error) => consoleErrors.push(`page error: ${(error as Error).message}`));
        }, 300_000);

        afterAll(async () => {
          await browser?.close();
          await tearDownFleetE2e(setup, [api, worker]);
        }, 120_000);

        it('serves the console under /console with a CSP that allows no inline script, for any path below it', async () => {
          for (const url of ['/console', '/console/models?category=x']) {
            const res = await fetch(`${baseUrl}${url}`);
            expect([url, res.status]).toEqual([url, 200]);
            expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
            expect(await res.text()).toContain('<div id="app"></div>');
          }
          expect((await fetch(`${baseUrl}/console/assets/missing.js`)).status).toBe(404);
        });

        it('asks for the key, refuses a wrong one, and keeps a right one for the session', async () => {
          await page.goto(`${baseUrl}/console`);
          await page.waitForSelector('#api-key');
          allowed.push(/status of 401 \(Unauthorized\) \(http:\/\/[^)]*\/v1\/models\)$/);
          await page.type('#api-key', 'not-the-key-0123456789-0123456789-abc');
          await page.click('.key-prompt button[type=submit]');
          await page.waitForSelector('.key-prompt .error-box');
          expect(await textOf('.key-prompt .error-box')).toContain('invalid API key');
          await screenshot('key');
          await page.$eval('#api-key', (el) => ((el as HTMLInputElement).value = ''));
          await page.type('#api-key', API_KEY);
          await page.click('.key-prompt button[type=submit]');
          await page.waitForSelector('nav a[data-page="runs"].active');
          expect(await page.evaluate(() => sessionStorage.length)).toBe(1);
        }, 60_000);

        it("shows the API's 400 at the form's fields, then trains a model through the form and follows it on Runs", async () => {
          allowed.push(/status of 400 \(Bad Request\) \(http:\/\/[^)]*\/v1\/trainings\)$/);
          await page.type('#training-form input[name=category]', 'screw/bad');
          await page.type('#training-form input[name=dataset]', 'relative/folder');
          await page.type('#training-form input[name=shards]', '0');
          await page.click('#training-form button[type=submit]');
          await page.waitForSelector('#training-form .field-invalid');
          const fieldErrors = await page.$$eval('#training-form .field-invalid', (fields) =>
            fields.map((f) => [f.querySelector('.field-label')!.textContent, f.querySelector('.field-error')!.textContent]),
          );
          expect(fieldErrors).toEqual([
            ['Category', expect.stringContaining('must be 1-64 letters')],
            ['Dataset', expect.stringContaining('must be s3://bucket/prefix, store:prefix or an absolute server folder')],
            ['Shards', expect.stringMatching(/>=1|at least 1|too small/i)],
          ]);
          await screenshot('runs-form-errors');

          const setField = async (name: string, value: string) => {
            await page.$eval(`#training-form input[name=${name}]`, (el) => ((el as HTMLInputElement).value = ''));
            await page.type(`#training-form input[name=${name}]`, value);
          };
          await setField('category', 'screw');
          await setField('dataset', dataset);
          await setField('shards', '2');
          await setField('size', '128');
          await setField('holdout', '0.2');
          await page.click('#training-form button[type=submit]');
          await page.waitForSelector('#training-form .notice');
          expect(await page.$$('#training-form .field-invalid')).toHaveLength(0);
          const runId = /Queued run ([0-9a-f-]{36})/.exec(await textOf('#training-form .notice'))![1];

          const row = `tr.run-row[data-run-id="${runId}"]`;
          await page.waitForSelector(`${row}[data-state="completed"]`, { timeout: 240_000 });
          const status: TrainingStatus = await client.status(runId);
          const fitted = status.shards.reduce((a, s) => a + s.imagesTotal, 0);
          expect(fitted + status.heldOutCount).toBe(TRAINING_IMAGES);
          expect(await textOf(`${row} .progress-label`)).toBe(`${fitted} / ${fitted} images`);
          expect(await textOf(`${row} .run-rate`)).toMatch(/^\d+(\.\d)? avg$/);
          expect(await textOf(`${row} .timings`)).toMatch(/total \d/);
          await page.click(`${row} .actions button.link`);
          await page.waitForSelector('tr.run-details .shard-row');
          expect(await page.$$eval('tr.run-details .shard-row .badge', (badges) => badges.map((b) => b.textContent))).toEqual(['completed', 'completed']);
          expect(await textOf('tr.run-details')).toContain(`screw/${status.version}`);
          await screenshot('runs');
        }, 300_000);

        it('trains a second version from a pasted list of categories (batch submission)', async () => {
          await page.type('#batch-training-form textarea[name=categories]', 'screw\n');
          await page.type('#batch-training-form input[name=dataset-template]', path.join(setup.scratch, '{category}-small'));
          await page.type('#batch-training-form input[name=size]', '128');
          await page.type('#batch-training-form input[name=shards]', '1');
          await page.click('#batch-training-form button[type=submit]');
          await page.waitForSelector('#batch-training-form .notice');
          expect(await textOf('#batch-training-form .notice')).toBe('Queued 1 run: screw');
          await page.waitForFunction(() => document.querySelectorAll('tr.run-row[data-state="completed"]').length === 2, { timeout: 240_000 });
        }, 300_000);

        it('shows the versions with their thresholds and training summary, and compares two side by side', async () => {
          await openPage('models');
          await page.waitForSelector('tr[data-category="screw"] a');
          await page.click('tr[data-category="screw"] a');
          await page.waitForFunction(() => document.querySelectorAll('.versions-table tbody tr').length === 2);
          const detail = (await client.request('GET', '/v1/models/screw')).body as {
            current: string;
            versions: { version: string; thresholds: { image: number }; training: { imageCount: number } }[];
          };
          const current = detail.versions.find((v) => v.version === detail.current)!;
          const currentRow = `.versions-table tr[data-version="${current.version}"]`;
          expect(await textOf(`${currentRow} .badge`)).toBe('current');
          expect(await textOf(currentRow)).toContain(`image ${shown(current.thresholds.image)}`);
          expect(await textOf(currentRow)).toContain(`${current.training.imageCount} images`);
          await page.click('.versions-table tbody tr:nth-child(1) input[type=checkbox]');
          await page.click('.versions-table tbody tr:nth-child(2) input[type=checkbox]');
          await page.waitForSelector('#comparison');
          const thresholdRow = await page.$$eval('#comparison tr', (rows) =>
            rows.map((r) => (r as HTMLElement).innerText).find((t) => t.startsWith('image threshold')),
          );
          expect(thresholdRow).toBeDefined();
          await screenshot('models');

          // Roll back to the older version, then delete the newer one (no longer current).
          const older = detail.versions.find((v) => v.version !== detail.current)!.version;
          await page.click(`.versions-table tr[data-version="${older}"] button.small-button:not(.danger)`);
          await page.waitForSelector(`.versions-table tr[data-version="${older}"] .badge`);
          expect(((await client.request('GET', '/v1/models/screw')).body as { current: string }).current).toBe(older);
          page.once('dialog', (dialog) => void dialog.accept());
          await page.click(`.versions-table tr[data-version="${detail.current}"] button.danger`);
          await page.waitForFunction(() => document.querySelectorAll('.versions-table tbody tr').length === 1);
          expect(((await client.request('GET', '/v1/models/screw')).body as { versions: unknown[] }).versions).toHaveLength(1);
        }, 60_000);

        it('scores uploaded images and shows each original, heatmap overlay and mask', async () => {
          await openPage('score');
          await modelOffered('.score-form');
          const input = await page.waitForSelector('input[name=images]');
          // Copies named after their folders: both originals are called 000.png.
          const uploads = SCORED.map((f) => path.join(setup.scratch, f.replace('/', '-')));
          for (const [i, f] of SCORED.entries()) await fs.copyFile(path.join(SCREW, 'test', f), uploads[i]);
          await input!.uploadFile(...uploads);
          await page.click('.score-form button[type=submit]');
          await page.waitForFunction(() => document.querySelectorAll('.result').length === 2, { timeout: 120_000 });
          const widths = await imagesLoaded('.result img.shot', 6);
          expect(widths.every((w) => w > 0)).toBe(true);

          // The same images scored through the API directly: the console shows the API's numbers.
          const form = new FormData();
          for (const f of uploads) form.append('images', new Blob([await fs.readFile(f)]), path.basename(f));
          const res = await fetch(`${baseUrl}/v1/models/screw/score?inline=true`, {
            method: 'POST',
            headers: { authorization: `Bearer ${API_KEY}` },
            body: form,
          });
          const expected = ((await res.json()) as OnlineScoreResponse).results;
          const cards = await page.$$eval('.result', (els) =>
            els.map((el) => ({
              score: el.querySelector('.score')!.textContent,
              normalized: el.querySelector('.normalized-score')!.textContent,
              label: el.querySelector('.result-head .badge')!.textContent,
            })),
          );
          expect(cards).toEqual(expected.map((r) => ({ score: shown(r.score), normalized: shown(r.normalizedScore), label: r.label })));
          await screenshot('score');
        }, 180_000);

        it('submits a batch scoring of an uploaded archive, follows it, and opens its results', async () => {
          const archive = path.join(setup.scratch, 'batch.zip');
          const files = ['good/000.png', 'good/001.png', 'good/002.png', 'scratch_head/000.png', 'scratch_head/001.png', 'thread_top/000.png'];
          await zipFiles(
            files.map((f) => ({ name: f, file: path.join(SCREW, 'test', f) })),
            archive,
          );
          await openPage('batch');
          await modelOffered('#scoring-form');
          const input = await page.waitForSelector('#scoring-form input[name=archive]');
          await input!.uploadFile(archive);
          await page.click('#scoring-form button[type=submit]');
          await page.waitForSelector('#scoring-form .notice');
          const scoringId = /Queued scoring ([0-9a-f-]{36})/.exec(await textOf('#scoring-form .notice'))![1];
          const row = `tr[data-scoring-id="${scoringId}"]`;
          await page.waitForSelector(`${row}[data-state="completed"]`, { timeout: 180_000 });
          expect(await textOf(`${row} .progress-label`)).toBe(`${files.length} / ${files.length} images`);
          await screenshot('batch');

          await page.click(`${row} a`);
          await page.waitForSelector('#scoring-summary');
          const summary = (await client.request('GET', `/v1/scorings/${scoringId}/files/summary.json`)).body as ScoringSummary;
          const numbers = await page.$$eval('#scoring-summary dd[data-key]', (dds) =>
            Object.fromEntries(dds.map((dd) => [(dd as HTMLElement).dataset.key, Number(dd.textContent)])),
          );
          expect(numbers).toEqual({
            images: summary.images,
            scored: summary.scored,
            anomalous: summary.anomalous,
            normal: summary.normal,
            failed: summary.failed,
          });
          const bars = await page.$$eval('#score-histogram rect.bar', (rects) => rects.map((r) => Number(r.getAttribute('data-count'))));
          expect(bars).toEqual(summary.histogram.map((b) => b.count));
          await imagesLoaded('.results-table img.thumb', files.length);

          // Sorted by score, highest first, by default; a click on the header turns the order round.
          const scores = async () => page.$$eval('.results-table tbody tr td:nth-child(3)', (tds) => tds.map((td) => Number(td.textContent)));
          const descending = await scores();
          expect(descending).toEqual([...descending].sort((a, b) => b - a));
          await page.click('th[data-sort="score"]');
          expect(await scores()).toEqual([...descending].reverse());
          const labelsShown = async (label: string) => {
            await page.select('select[name=label-filter]', label);
            return page.$$eval('.results-table tbody tr', (rows) => rows.map((r) => r.getAttribute('data-label')));
          };
          expect(await labelsShown('anomalous')).toEqual(Array(summary.anomalous).fill('anomalous'));
          expect(await labelsShown('normal')).toEqual(Array(summary.normal).fill('normal'));
          await page.select('select[name=label-filter]', 'all');
          await imagesLoaded('.results-table img.thumb', files.length);
          await screenshot('batch-results');
        }, 240_000);

        it('asks for the key again when the API refuses the one it holds', async () => {
          allowed.push(/status of 401 \(Unauthorized\) \(http:\/\/[^)]*\/v1\/trainings\?limit=\d+\)$/);
          await page.evaluate(() => sessionStorage.setItem('padim-console.api-key', 'revoked-key-0123456789-0123456789-abc'));
          await page.goto(`${baseUrl}/console/runs`);
          await page.waitForSelector('.key-prompt .error-box');
          expect(await textOf('.key-prompt .error-box')).toBe('The API refused the key: invalid API key');
          expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
        }, 60_000);

        it('logged no console errors but the ones provoked on purpose', () => {
          expect(consoleErrors.filter((e) => !allowed.some((a) => a.test(e)))).toEqual([]);
        });
      });
    });
  });
});
