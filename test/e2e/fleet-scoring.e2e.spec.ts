import { execFileSync } from 'node:child_process';
import { createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import sharp from 'sharp';
import { ZipFile } from 'yazl';
import type { ScoringStatus } from '@padim-fleet/contracts';
import type { ScoreRow } from '@padim-fleet/compute';
import { publishModel } from '@padim-fleet/fleet';
import { PadimScorer, evaluateModel, listImagesRecursive, listMvtecTestSet, resolveBackbone, trainModel } from '@padim-fleet/inference';
import { ModelManifest, auroc } from '@padim-fleet/padim-core';
import { ModelRegistry, S3BlobStore } from '@padim-fleet/storage';
import { describeWithShared, sharedPath } from '../../libs/inference/src/testing/shared-data';
import { FleetApiClient } from '../support/fleet-api';
import { setUpFleetE2e, tearDownFleetE2e, type FleetE2e } from '../support/fleet-e2e';
import { FleetProcess, pollUntil } from '../support/fleet-processes';
import { describeWithRedis, describeWithS3, redisTestUrl } from '../support/services';

const API_KEY = 'e2e-scoring-Hc6tY1wR8nM3qZ5vJ2kP';
const SCREW = sharedPath('datasets/mvtec-ad/screw');

async function zipFolder(dir: string, out: string, extra: { name: string; data: Buffer }[] = []): Promise<void> {
  const zip = new ZipFile();
  for (const file of await listImagesRecursive(dir)) zip.addFile(file, path.relative(dir, file));
  for (const e of extra) zip.addBuffer(e.data, e.name);
  zip.end();
  await new Promise<void>((resolve, reject) => zip.outputStream.pipe(createWriteStream(out)).on('close', resolve).on('error', reject));
}

describeWithShared('scoring pool end to end: online and batch scoring through the API', () => {
  describeWithRedis('with Redis', () => {
    describeWithS3('with S3', () => {
      let setup: FleetE2e;
      let store: S3BlobStore;
      let registry: ModelRegistry;
      let api: FleetProcess;
      const workers: FleetProcess[] = [];
      let client: FleetApiClient;
      let env: Record<string, string>;
      let scratch: string;
      let manifest: ModelManifest;
      let evalAuroc: number;
      let evalScores: Map<string, number>;

      const startWorker = async (name: string) => {
        const worker = await FleetProcess.startWorker(name, env);
        workers.push(worker);
        return worker;
      };

      async function runScoring(body: Record<string, unknown>, onRunning?: (s: ScoringStatus) => Promise<void>): Promise<ScoringStatus> {
        const res = await client.request('POST', '/v1/scorings', body);
        expect([res.status, res.body]).toEqual([202, expect.objectContaining({ scoringId: expect.any(String) })]);
        if (onRunning)
          await onRunning(
            await pollUntil(
              () => client.request('GET', `/v1/scorings/${res.body.scoringId}`).then((r) => r.body as ScoringStatus),
              (s) => s.chunks.some((c) => c.state === 'active') || s.state === 'completed',
              120_000,
              'a chunk to run',
            ),
          );
        return pollUntil(
          () => client.request('GET', `/v1/scorings/${res.body.scoringId}`).then((r) => r.body as ScoringStatus),
          (s) => s.state === 'completed' || s.state === 'failed',
          300_000,
          'the scoring',
        );
      }

      async function resultRows(status: ScoringStatus): Promise<ScoreRow[]> {
        const text = (await store.get(status.outputs!.resultsJsonl)).toString('utf8');
        return text
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as ScoreRow);
      }

      beforeAll(async () => {
        setup = await setUpFleetE2e({
          redisUrl: redisTestUrl(),
          apiKey: API_KEY,
          scratchPrefix: 'padim-e2e-score-',
          extra: () => ({ WORKER_ROLES: 'score', JOB_ATTEMPTS: '4', JOB_BACKOFF_MS: '1000', ARCHIVE_MAX_BYTES: String(512 * 1024 ** 2) }),
        });
        ({ store, registry, env, scratch } = setup);
        // A screw model trained in process and published to the registry: what the pool serves.
        const backbone = await resolveBackbone('resnet18');
        const trained = await trainModel({
          category: 'screw',
          files: await listImagesRecursive(path.join(SCREW, 'train/good')),
          backbone,
          runtime: { threads: 2 },
        });
        manifest = await publishModel(registry, 'screw', 'v1', trained);
        const scorer = await PadimScorer.create(manifest, trained.tensors, backbone, { threads: 2 });
        try {
          const { metrics, results } = await evaluateModel(scorer, await listMvtecTestSet(SCREW));
          evalAuroc = metrics.imageAUROC;
          evalScores = new Map(results.map((r) => [path.relative(path.join(SCREW, 'test'), r.item.file), r.score!]));
        } finally {
          await scorer.release();
        }
        api = await FleetProcess.startApi(env);
        client = new FleetApiClient(`http://127.0.0.1:${setup.port}`, API_KEY);
        await startWorker('score-1');
        await startWorker('score-2');
      }, 300_000);

      afterAll(() => tearDownFleetE2e(setup, [api, ...workers]), 120_000);

      function expectSameAsEval(rows: ScoreRow[]): void {
        expect(rows).toHaveLength(160);
        expect(new Set(rows.map((r) => r.file)).size).toBe(160);
        expect(rows.filter((r) => r.error !== null)).toEqual([]);
        const labels = rows.map((r) => (r.file.startsWith('good/') ? 0 : 1));
        expect(
          auroc(
            rows.map((r) => r.score!),
            labels,
          ),
        ).toBeCloseTo(evalAuroc, 6);
        for (const r of rows) expect([r.file, r.score!]).toEqual([r.file, expect.closeTo(evalScores.get(r.file)!, 3)]);
      }

      it("scores screw's test set as a .tar.gz: one row per image, the AUROC of padim eval, heatmaps that mark defects", async () => {
        const archive = path.join(scratch, 'screw-test.tar.gz');
        execFileSync('tar', ['-czf', archive, '-C', path.join(SCREW, 'test'), '.']);
        await store.put('inputs/screw-test.tar.gz', await fs.readFile(archive));
        const status = await runScoring({ category: 'screw', input: `s3://${setup.bucket}/inputs/screw-test.tar.gz`, chunkSize: 40 });
        expect(status.error).toBeUndefined();
        expect(status.state).toBe('completed');
        expect(status.chunks).toHaveLength(4);
        expect(status.summary).toEqual({ images: 160, scored: 160, failed: 0, anomalous: expect.any(Number) });
        const rows = await resultRows(status);
        expectSameAsEval(rows);
        // Masks of images flagged anomalous overlap their ground-truth defect more often than not.
        let overlapping = 0;
        let flagged = 0;
        for (const r of rows.filter((x) => x.label === 'anomalous' && !x.file.startsWith('good/')).slice(0, 20)) {
          flagged++;
          const mask = await sharp(await store.get(`scorings/${status.scoringId}/${r.mask}`))
            .greyscale()
            .raw()
            .toBuffer({ resolveWithObject: true });
          expect([mask.info.width, mask.info.height]).toEqual([256, 256]);
          const [defect, name] = r.file.split('/');
          const truth = await sharp(path.join(SCREW, 'ground_truth', defect, name.replace('.png', '_mask.png')))
            .resize(256, 256, { kernel: 'nearest' })
            .greyscale()
            .raw()
            .toBuffer();
          if (mask.data.some((v, i) => v > 127 && truth[i] > 127)) overlapping++;
          const overlay = await sharp(await store.get(`scorings/${status.scoringId}/${r.heatmap}`)).metadata();
          expect([overlay.format, overlay.width, overlay.height]).toEqual(['png', 256, 256]);
        }
        expect(flagged).toBeGreaterThan(5);
        expect(overlapping / flagged).toBeGreaterThan(0.5);
        const summary = JSON.parse((await store.get(status.outputs!.summary)).toString('utf8'));
        expect(summary.anomalies[0].score).toBeGreaterThanOrEqual(summary.anomalies[summary.anomalies.length - 1].score);
        const csv = await client.request('GET', `/v1/scorings/${status.scoringId}/files/results.csv`);
        expect(csv.status).toBe(200);
        expect(String(csv.body).trim().split('\n')).toHaveLength(161);
        expect(await store.head(`scorings/${status.scoringId}/plan.json`)).toBeNull();
        expect(
          await (async () => {
            const k: string[] = [];
            for await (const i of store.list(`scorings/${status.scoringId}/input/`)) k.push(i.key);
            return k;
          })(),
        ).toEqual([]);
      }, 600_000);

      it('scores the same set as a .zip, and completes with exactly one row per image when a score worker is killed mid-batch', async () => {
        const archive = path.join(scratch, 'screw-test.zip');
        await zipFolder(path.join(SCREW, 'test'), archive);
        await store.put('inputs/screw-test.zip', await fs.readFile(archive));
        const status = await runScoring({ category: 'screw', input: `s3://${setup.bucket}/inputs/screw-test.zip`, chunkSize: 20 }, async () => {
          await workers.shift()!.kill('SIGKILL');
          await startWorker('score-3');
        });
        expect(status.error).toBeUndefined();
        expect(status.state).toBe('completed');
        expectSameAsEval(await resultRows(status));
      }, 600_000);

      it('keeps going past bad images: corrupt, truncated, empty, non-image, 16-bit, CMYK, palette, too many pixels', async () => {
        const good = await fs.readFile(path.join(SCREW, 'test/good/000.png'));
        const rgb = await sharp(good).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
        const files: Record<string, Buffer> = {
          'ok.png': good,
          'truncated.png': good.subarray(0, 300),
          'empty.png': Buffer.alloc(0),
          'notes.txt': Buffer.from('not an image'),
          'sixteen-bit.png': await sharp(good).toColourspace('rgb16').png().toBuffer(),
          'cmyk.jpg': await sharp(rgb.data, { raw: rgb.info }).toColourspace('cmyk').jpeg().toBuffer(),
          'palette.png': await sharp(good).png({ palette: true, colours: 64 }).toBuffer(),
          'huge.png': await sharp({ create: { width: 12000, height: 9000, channels: 3, background: { r: 0, g: 0, b: 0 } } })
            .png({ compressionLevel: 9 })
            .toBuffer(),
        };
        for (const [name, data] of Object.entries(files)) await store.put(`inputs/mixed/${name}`, data);
        const status = await runScoring({ category: 'screw', input: `s3://${setup.bucket}/inputs/mixed/`, chunkSize: 3 });
        expect(status.state).toBe('completed');
        const rows = new Map((await resultRows(status)).map((r) => [r.file, r]));
        expect(rows.size).toBe(8);
        for (const name of ['ok.png', 'sixteen-bit.png', 'cmyk.jpg', 'palette.png'])
          expect([name, rows.get(name)!.error, typeof rows.get(name)!.score]).toEqual([name, null, 'number']);
        expect(rows.get('truncated.png')!.error).toMatch(/corrupt or truncated/);
        expect(rows.get('empty.png')!.error).toMatch(/empty file/);
        expect(rows.get('notes.txt')!.error).toMatch(/not a supported image/);
        expect(rows.get('huge.png')!.error).toMatch(/pixel limit/);
        expect(status.summary).toEqual({ images: 8, scored: 4, failed: 4, anomalous: expect.any(Number) });
      }, 300_000);

      it('rejects hostile archives before unpacking anything, and writes nothing outside the scoring', async () => {
        const before = new Set<string>();
        for await (const i of store.list('')) before.add(i.key);
        const evil = path.join(scratch, 'evil.zip');
        const zip = new ZipFile();
        zip.addBuffer(Buffer.from('x'), 'fine.png');
        zip.addBuffer(Buffer.from('y'), 'aaaaaa.png');
        zip.end();
        await new Promise<void>((resolve, reject) => zip.outputStream.pipe(createWriteStream(evil)).on('close', resolve).on('error', reject));
        // Give the second entry a parent-directory name of the same length, as a hostile tool would.
        const bytes = await fs.readFile(evil);
        let at = bytes.indexOf('aaaaaa.png');
        while (at >= 0) {
          bytes.write('../x.png', at, 'latin1');
          bytes.write('..', at + 8, 'latin1');
          at = bytes.indexOf('aaaaaa.png', at + 1);
        }
        await store.put('inputs/evil.zip', bytes);
        const bomb = path.join(scratch, 'bomb.tar.gz');
        execFileSync('bash', ['-c', `cd ${scratch} && head -c 700000000 /dev/zero > zeros.png && tar -czf ${bomb} zeros.png && rm zeros.png`]);
        await store.put('inputs/bomb.tar.gz', await fs.readFile(bomb));
        for (const [input, reason] of [
          ['inputs/evil.zip', /\.\./],
          ['inputs/bomb.tar.gz', /limit|exceed|bytes/i],
        ] as const) {
          const status = await runScoring({ category: 'screw', input: `s3://${setup.bucket}/${input}` });
          expect([input, status.state]).toEqual([input, 'failed']);
          expect(status.error).toMatch(reason);
        }
        const after: string[] = [];
        for await (const i of store.list('')) if (!before.has(i.key)) after.push(i.key);
        expect(after.filter((k) => !k.startsWith('inputs/'))).toEqual([]);
      }, 300_000);

      it('scores single images online: results, heatmap links, inline PNGs; batched with concurrent requests', async () => {
        const form = new FormData();
        for (const f of ['good/000.png', 'scratch_head/000.png'])
          form.append('images', new Blob([await fs.readFile(path.join(SCREW, 'test', f))]), f.replace('/', '_'));
        form.append('images', new Blob([Buffer.from('garbage')]), 'broken.png');
        const res = await fetch(`${client.baseUrl}/v1/models/screw/score`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` }, body: form });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { version: string; results: (ScoreRow & { heatmap: string | null })[] };
        expect(body.version).toBe('v1');
        expect(body.results.map((r) => r.file)).toEqual(['good_000.png', 'scratch_head_000.png', 'broken.png']);
        expect(body.results[0].score).toBeCloseTo(evalScores.get('good/000.png')!, 3);
        expect(body.results[1].score).toBeCloseTo(evalScores.get('scratch_head/000.png')!, 3);
        expect(body.results[1].normalizedScore).toBeGreaterThanOrEqual(0);
        expect(body.results[2].error).toMatch(/not a supported image|corrupt/);
        const png = await fetch(`${client.baseUrl}${body.results[1].heatmap}`, { headers: { authorization: `Bearer ${API_KEY}` } });
        expect(png.status).toBe(200);
        expect((await sharp(Buffer.from(await png.arrayBuffer())).metadata()).format).toBe('png');

        const inline = new FormData();
        inline.append('images', new Blob([await fs.readFile(path.join(SCREW, 'test/good/001.png'))]), 'a.png');
        const inlineRes = await fetch(`${client.baseUrl}/v1/models/screw/score?inline=true&version=v1`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}` },
          body: inline,
        });
        const inlineBody = (await inlineRes.json()) as { results: { heatmap: null; heatmapPng: string; maskPng: string }[] };
        expect(inlineBody.results[0].heatmap).toBeNull();
        expect((await sharp(Buffer.from(inlineBody.results[0].heatmapPng, 'base64')).metadata()).width).toBe(256);
        // The results (inline PNGs: megabytes) left Redis once the API read them.
        const redis = new IORedis(env.REDIS_URL, { maxRetriesPerRequest: null });
        const scoreQueue = new Queue('score', { connection: redis, prefix: env.PADIM_QUEUE_PREFIX });
        try {
          expect((await scoreQueue.getJobs(['completed', 'failed'])).filter((j) => j?.name === 'ScoreImages')).toEqual([]);
        } finally {
          await scoreQueue.close();
          redis.disconnect();
        }

        // A promotion takes effect on the next request, without restarting the pool.
        for (const f of ['mean.f32', 'inv_cholesky.f32', 'manifest.json']) await store.put(`models/screw/v1b/${f}`, await store.get(`models/screw/v1/${f}`));
        expect((await client.request('POST', '/v1/models/screw/versions/v1b/promote')).status).toBe(200);
        const promoted = await fetch(`${client.baseUrl}/v1/models/screw/score`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}` },
          body: inline,
        });
        expect(((await promoted.json()) as { version: string }).version).toBe('v1b');
        expect((await client.request('POST', '/v1/models/screw/versions/v1/promote')).status).toBe(200);

        const missing = await fetch(`${client.baseUrl}/v1/models/nope/score`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}` },
          body: inline,
        });
        expect(missing.status).toBe(404);
        const missingVersion = await client.request('POST', '/v1/scorings', { category: 'screw', version: 'v9', input: `s3://${setup.bucket}/inputs/mixed/` });
        expect(missingVersion.status).toBe(404);
        const internal = await client.request('POST', '/v1/scorings', { category: 'screw', input: 'store:models/screw/v1/' });
        expect([internal.status, internal.body.message]).toEqual([400, expect.stringMatching(/body\.input: must not name the fleet's own prefixes/)]);
      }, 120_000);

      it('scores an archive uploaded through the API, and keeps only the results', async () => {
        const archive = path.join(scratch, 'few.tar.gz');
        execFileSync('tar', ['-czf', archive, '-C', path.join(SCREW, 'test'), 'good/000.png', 'good/001.png', 'scratch_head/000.png']);
        const form = new FormData();
        form.append('category', 'screw');
        form.append('chunkSize', '2');
        form.append('archive', new Blob([await fs.readFile(archive)]), 'few.tar.gz');
        const res = await fetch(`${client.baseUrl}/v1/scorings/upload`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` }, body: form });
        expect(res.status).toBe(202);
        const { scoringId } = (await res.json()) as { scoringId: string };
        const status = await pollUntil(
          () => client.request('GET', `/v1/scorings/${scoringId}`).then((r) => r.body as ScoringStatus),
          (s) => s.state === 'completed' || s.state === 'failed',
          120_000,
          'the scoring',
        );
        expect(status.state).toBe('completed');
        const rows = await resultRows(status);
        expect(rows.map((r) => r.file).sort()).toEqual(['good/000.png', 'good/001.png', 'scratch_head/000.png']);
        for (const r of rows) expect(r.score).toBeCloseTo(evalScores.get(r.file)!, 3);
        const left: string[] = [];
        for await (const i of store.list(`scorings/${scoringId}/`)) left.push(i.key.slice(`scorings/${scoringId}/`.length).split('/')[0]);
        expect([...new Set(left)].sort()).toEqual(['heatmaps', 'masks', 'results.csv', 'results.jsonl', 'summary.json']);
      }, 120_000);

      it('refuses to score with a model whose stored tensors do not match their checksums', async () => {
        // A faithful copy of v1 with one flipped byte in its factors.
        const factor = await store.get(`models/screw/v1/inv_cholesky.f32`);
        factor[1000] ^= 0xff;
        await store.put('models/screw/v2-corrupt/mean.f32', await store.get('models/screw/v1/mean.f32'));
        await store.put('models/screw/v2-corrupt/inv_cholesky.f32', factor);
        await store.put('models/screw/v2-corrupt/manifest.json', await store.get('models/screw/v1/manifest.json'));
        const status = await runScoring({ category: 'screw', version: 'v2-corrupt', input: `s3://${setup.bucket}/inputs/mixed/` });
        expect(status.state).toBe('failed');
        expect(status.error).toMatch(/inv_cholesky\.f32.*corrupt/);
      }, 120_000);
    });
  });
});
