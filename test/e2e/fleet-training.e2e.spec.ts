import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import {
  EvaluationMetrics,
  ModelTensors,
  PadimScorer,
  TrainedModel,
  evaluateModel,
  generateSyntheticDataset,
  listImagesRecursive,
  listMvtecTestSet,
  resolveBackbone,
  trainModel,
} from '@padim-fleet/inference';
import { loadRegistryModel } from '@padim-fleet/fleet';
import { BlobStore, ModelRegistry, S3BlobStore } from '@padim-fleet/storage';
import { describeWithShared, sharedPath } from '../../libs/inference/src/testing/shared-data';
import { FleetApiClient } from '../support/fleet-api';
import { relativeDifference } from '../support/model-compare';
import { setUpFleetE2e, tearDownFleetE2e, type FleetE2e } from '../support/fleet-e2e';
import { FleetProcess, REPO_ROOT, freePort, pollUntil, sleep } from '../support/fleet-processes';
import { describeWithRedis, describeWithS3 } from '../support/services';

const API_KEY = 'e2e-training-Xw4pN8rT2mQ7vK3zB9dL';
const SCREW = sharedPath('datasets/mvtec-ad/screw');
/** A private Redis for this suite on a free port (set before it starts), so that restarting it touches nothing else. */
let REDIS_PORT = 0;

function infra(script: string, ...args: string[]): void {
  execFileSync('bash', [path.join(REPO_ROOT, 'infra', script), ...args], {
    stdio: 'ignore',
    env: { ...process.env, PADIM_REDIS_PORT: String(REDIS_PORT) },
    timeout: 120_000,
  });
}

async function storeKeys(store: BlobStore, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys;
}

describeWithShared('fleet end to end: HTTP API, worker processes, Redis, radosgw', () => {
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
      let reference: TrainedModel;
      let referenceMetrics: EvaluationMetrics;

      const startWorker = async (name: string) => {
        const worker = await FleetProcess.startWorker(name, env);
        workers.push(worker);
        return worker;
      };

      const fleetModel = (category: string, version: string) => loadRegistryModel(registry, category, version);

      /** Every version folder is complete (has its manifest) and no run left anything under runs/. */
      async function expectNoLeftovers(): Promise<void> {
        expect(await storeKeys(store, 'runs/')).toEqual([]);
        const byVersion = new Map<string, string[]>();
        for (const key of await storeKeys(store, 'models/')) {
          const parts = key.split('/');
          if (parts.length === 4) byVersion.set(parts.slice(0, 3).join('/'), [...(byVersion.get(parts.slice(0, 3).join('/')) ?? []), parts[3]]);
        }
        for (const [version, files] of byVersion) expect([version, files.includes('manifest.json')]).toEqual([version, true]);
      }

      function expectSameAsReference(tensors: ModelTensors): void {
        expect(relativeDifference(tensors.mean, reference.tensors.mean)).toBeLessThan(1e-5);
        expect(relativeDifference(tensors.invCholesky, reference.tensors.invCholesky)).toBeLessThan(1e-5);
      }

      beforeAll(async () => {
        REDIS_PORT = await freePort();
        infra('redis.sh', 'start');
        setup = await setUpFleetE2e({
          redisUrl: `redis://127.0.0.1:${REDIS_PORT}`,
          apiKey: API_KEY,
          scratchPrefix: 'padim-e2e-',
          extra: (dir) => ({
            PADIM_DATASET_ROOTS: `${sharedPath('datasets')},${dir}`,
            PADIM_SCRATCH_DIR: path.join(dir, 'reduce'),
            JOB_ATTEMPTS: '6',
            JOB_BACKOFF_MS: '2000',
          }),
        });
        ({ store, registry, env, scratch } = setup);
        api = await FleetProcess.startApi(env);
        client = new FleetApiClient(`http://127.0.0.1:${setup.port}`, API_KEY);
        await startWorker('worker-1');
        await startWorker('worker-2');
        // The in-process trainer on the same data: what every fleet model must equal.
        const files = await listImagesRecursive(path.join(SCREW, 'train/good'));
        const backbone = await resolveBackbone('resnet18');
        reference = await trainModel({ category: 'screw', files, backbone, runtime: { threads: 2 } });
        const scorer = await PadimScorer.create({ ...reference.manifest, tensors: undefined as never }, reference.tensors, backbone, { threads: 2 });
        try {
          referenceMetrics = (await evaluateModel(scorer, await listMvtecTestSet(SCREW))).metrics;
        } finally {
          await scorer.release();
        }
      }, 300_000);

      afterAll(async () => {
        await tearDownFleetE2e(setup, [api, ...workers]);
        infra('redis.sh', 'stop');
      }, 120_000);

      it('trains screw in 4 shards through the API to the in-process model, with the same AUROC', async () => {
        const runId = await client.train({ category: 'screw', dataset: path.join(SCREW, 'train/good'), backbone: 'resnet18', shards: 4 });
        const status = await client.waitForRun(runId);
        expect(status.error).toBeUndefined();
        expect(status.state).toBe('completed');
        expect(status.shards).toHaveLength(4);
        expect(status.shards.every((s) => s.state === 'completed' && s.imagesDone === s.imagesTotal)).toBe(true);
        expect(status.imageCount + status.heldOutCount).toBe(320);
        expect(status.timings.totalSeconds).toBeGreaterThan(0);

        const { manifest, tensors } = await fleetModel('screw', status.version);
        expectSameAsReference(tensors);
        expect(manifest.thresholds.image).toBeCloseTo(reference.manifest.thresholds.image, 2);
        const backbone = await resolveBackbone('resnet18');
        const scorer = await PadimScorer.create(manifest, tensors, backbone, { threads: 2 });
        try {
          const { metrics } = await evaluateModel(scorer, await listMvtecTestSet(SCREW));
          expect(metrics.imageAUROC).toBeCloseTo(referenceMetrics.imageAUROC, 4);
          expect(metrics.pixelAUROC).toBeCloseTo(referenceMetrics.pixelAUROC!, 4);
        } finally {
          await scorer.release();
        }
        const models = await client.request('GET', '/v1/models/screw');
        expect(models.status).toBe(200);
        expect(models.body.current).toBe(status.version);
        await expectNoLeftovers();
      }, 600_000);

      it('recovers a shard whose worker is killed mid-way (stalled job) and makes the same model', async () => {
        const runId = await client.train({ category: 'screw-kill', dataset: path.join(SCREW, 'train/good'), backbone: 'resnet18', shards: 2 });
        // Wait until a shard is part-way, then SIGKILL the process that holds it.
        const running = await pollUntil(
          () => client.status(runId),
          (s) => s.shards.some((x) => x.state === 'active' && x.imagesDone > 0 && x.imagesDone < x.imagesTotal),
          120_000,
          'a shard in progress',
        );
        expect(running.state).toBe('running');
        for (const worker of workers.splice(0)) await worker.kill('SIGKILL');
        await startWorker('worker-3');
        await startWorker('worker-4');
        const status = await client.waitForRun(runId);
        expect(status.error).toBeUndefined();
        expect(status.state).toBe('completed');
        expectSameAsReference((await fleetModel('screw-kill', status.version)).tensors);
        await expectNoLeftovers();
      }, 600_000);

      it('fails a run whose shard stalls past MAX_STALLED_COUNT (its worker frozen), with the reason, and leaves nothing behind', async () => {
        for (const worker of workers.splice(0)) await worker.kill('SIGKILL');
        const strict = { ...env, MAX_STALLED_COUNT: '0', LOCK_DURATION_MS: '2000', STALLED_INTERVAL_MS: '1000' };
        const frozen = await FleetProcess.startWorker('worker-frozen', strict);
        const runId = await client.train({ category: 'screw-stall', dataset: path.join(SCREW, 'train/good'), backbone: 'resnet18', shards: 1 });
        await pollUntil(
          () => client.status(runId),
          (s) => s.shards[0]?.state === 'active' && s.shards[0].imagesDone > 0,
          120_000,
          'the shard in progress',
        );
        // A worker that no longer runs (stopped, not killed) renews no lock: its job stalls, and the next worker to take it fails it.
        frozen.child.kill('SIGSTOP');
        workers.push(await FleetProcess.startWorker('worker-strict', strict));
        const status = await client.waitForRun(runId);
        await frozen.kill('SIGKILL');
        expect([status.state, status.error]).toEqual(['failed', expect.stringMatching(/shard 0: job stalled more than allowable limit/)]);
        await pollUntil(
          () => storeKeys(store, `runs/${runId}/`),
          (keys) => keys.length === 0,
          30_000,
          'the run to be cleaned up',
        );
        expect((await client.request('GET', '/v1/models/screw-stall')).status).toBe(404);
        await expectNoLeftovers();
        for (const worker of workers.splice(0)) await worker.kill('SIGKILL');
        await startWorker('worker-5');
        await startWorker('worker-6');
      }, 300_000);

      it('rides out an S3 outage of 20 s during a run with retries', async () => {
        const runId = await client.train({ category: 'screw-outage', dataset: path.join(SCREW, 'train/good'), backbone: 'resnet18', shards: 2 });
        await pollUntil(
          () => client.status(runId),
          (s) => s.shards.some((x) => x.state === 'active'),
          120_000,
          'a shard to start',
        );
        infra('radosgw.sh', 'stop-gateway');
        try {
          const ready = await client.request('GET', '/readyz', undefined, { auth: false });
          expect(ready.status).toBe(503);
          await sleep(20_000);
        } finally {
          infra('radosgw.sh', 'start-gateway');
        }
        const status = await client.waitForRun(runId);
        expect(status.error).toBeUndefined();
        expect(status.state).toBe('completed');
        expectSameAsReference((await fleetModel('screw-outage', status.version)).tensors);
        await expectNoLeftovers();
      }, 600_000);

      it('keeps working after Redis restarts between runs (workers and API reconnect)', async () => {
        const data = path.join(scratch, 'weave');
        await generateSyntheticDataset(data, { size: 96, train: 12, testGood: 1, testPerDefect: 1 });
        const before = await client.waitForRun(await client.train({ category: 'weave', dataset: path.join(data, 'train/good'), size: 64, shards: 2 }));
        expect(before.state).toBe('completed');
        infra('redis.sh', 'restart');
        const after = await pollUntil(
          () => client.request('POST', '/v1/trainings', { category: 'weave', dataset: path.join(data, 'train/good'), size: 64, shards: 2 }),
          (r) => r.status === 202,
          30_000,
          'the API to accept a run after the Redis restart',
        );
        const status = await client.waitForRun(after.body.runId, 120_000);
        expect(status.state).toBe('completed');
        expect((await client.request('GET', '/v1/models/weave')).body.versions).toHaveLength(2);
        await expectNoLeftovers();
      }, 300_000);

      it('answers bad input with 400s that name the problem, and stores nothing', async () => {
        const empty = path.join(scratch, 'empty');
        await fs.mkdir(empty, { recursive: true });
        const keysBefore = await storeKeys(store);
        const cases: [Record<string, unknown>, RegExp][] = [
          [{ category: 'screw', dataset: path.join(SCREW, 'train/good'), backbone: 'vgg16' }, /body\.backbone: must be one of resnet18, resnet50/],
          [{ category: '../screw', dataset: path.join(SCREW, 'train/good') }, /body\.category/],
          [{ category: 'a/b', dataset: path.join(SCREW, 'train/good') }, /body\.category/],
          [{ category: 'screw', dataset: empty }, /dataset: no images under/],
          [{ category: 'screw', dataset: `s3://${setup.bucket}/no-such-prefix/` }, /dataset: no images under/],
          [{ category: 'screw', dataset: '/etc' }, /not under an allowed dataset root/],
          [{ category: 'screw', dataset: path.join(SCREW, 'train/good'), d: 449 }, /body\.d: must be at most 448/],
          [{ category: 'screw', dataset: path.join(SCREW, 'train/good'), baseVersion: 'nope' }, /baseVersion: model screw\/nope does not exist/],
          [{ category: 'screw', dataset: path.join(SCREW, 'train/good'), colour: 'red' }, /colour/],
          [{ category: 'screw', dataset: 'store:models/screw/' }, /body\.dataset: must not name the fleet's own prefixes/],
        ];
        for (const [body, reason] of cases) {
          const res = await client.request('POST', '/v1/trainings', body);
          expect([JSON.stringify(body), res.status]).toEqual([JSON.stringify(body), 400]);
          expect(res.body.message).toMatch(reason);
        }
        const batch = await client.request('POST', '/v1/trainings/batch', {
          runs: [
            { category: 'ok', dataset: path.join(SCREW, 'train/good') },
            { category: 'bad', dataset: empty },
          ],
        });
        expect(batch.status).toBe(400);
        expect(batch.body.message).toMatch(/runs\.1\.dataset: no images/);
        expect(await storeKeys(store)).toEqual(keysBefore);
      }, 120_000);

      it('trains from an S3 prefix with corrupt images among good ones, reporting them', async () => {
        const data = path.join(scratch, 'prefix-data');
        await generateSyntheticDataset(data, { size: 96, train: 10, testGood: 1, testPerDefect: 1 });
        for (const file of await listImagesRecursive(path.join(data, 'train/good')))
          await store.put(`datasets/weave/${path.basename(file)}`, await fs.readFile(file));
        const good = await fs.readFile((await listImagesRecursive(path.join(data, 'train/good')))[0]);
        await store.put('datasets/weave/truncated.png', good.subarray(0, 200));
        await store.put('datasets/weave/not-an-image.png', 'hello');
        await store.put('datasets/weave/empty.png', new Uint8Array(0));
        const status = await client.waitForRun(
          await client.train({ category: 'weave-s3', dataset: `s3://${setup.bucket}/datasets/weave/`, size: 64, shards: 2, holdout: 0 }),
        );
        expect(status.error).toBeUndefined();
        expect(status.state).toBe('completed');
        const { manifest } = await fleetModel('weave-s3', status.version);
        expect(manifest.training.imageCount).toBe(10);
        expect(manifest.training.skipped.map((s) => path.basename(s.file)).sort()).toEqual(['empty.png', 'not-an-image.png', 'truncated.png']);
        expect(manifest.training.skipped.find((s) => s.file.endsWith('empty.png'))!.error).toMatch(/empty file/);
        await expectNoLeftovers();
      }, 300_000);

      it('trains on an uploaded archive, and fails the run of a hostile one with the reason, leaving nothing behind', async () => {
        const data = path.join(scratch, 'upload-data');
        await generateSyntheticDataset(data, { size: 96, train: 12, testGood: 1, testPerDefect: 1 });
        const archive = path.join(scratch, 'good.tar.gz');
        execFileSync('tar', ['-czf', archive, '-C', path.join(data, 'train/good'), '.']);
        const upload = async (file: string, name: string) => {
          const form = new FormData();
          form.append('request', JSON.stringify({ category: 'weave-upload', size: 64, holdout: 0 }));
          form.append('archive', new Blob([await fs.readFile(file)]), name);
          const res = await fetch(`${client.baseUrl}/v1/trainings/upload`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` }, body: form });
          return { status: res.status, body: (await res.json()) as { runId?: string; message?: string } };
        };
        const accepted = await upload(archive, 'good.tar.gz');
        expect(accepted.status).toBe(202);
        const status = await client.waitForRun(accepted.body.runId!);
        expect(status.error).toBeUndefined();
        expect(status.state).toBe('completed');
        expect(status.imageCount).toBe(12);
        await expectNoLeftovers();

        const keysBefore = await storeKeys(store);
        const evil = path.join(scratch, 'evil.tar');
        execFileSync('bash', ['-c', `cd ${scratch} && ln -sf /etc/passwd link.png && tar -cf ${evil} link.png && rm link.png`]);
        const rejected = await upload(evil, 'evil.tar');
        expect(rejected.status).toBe(202);
        const failed = await client.waitForRun(rejected.body.runId!);
        expect([failed.state, failed.error]).toEqual(['failed', expect.stringMatching(/^archive evil\.tar: .*link/)]);
        const notArchive = await upload(path.join(data, 'train/good/000.png'), 'x.zip');
        expect(notArchive.status).toBe(400);
        expect(await storeKeys(store)).toEqual(keysBefore);
      }, 300_000);

      it('fails a run whose images are all unreadable, with the reason, and leaves nothing behind', async () => {
        await store.put('datasets/broken/a.png', 'not a png');
        await store.put('datasets/broken/b.png', 'not a png either');
        const status = await client.waitForRun(
          await client.train({ category: 'broken', dataset: `s3://${setup.bucket}/datasets/broken/`, size: 64, holdout: 0 }),
        );
        expect(status.state).toBe('failed');
        expect(status.error).toMatch(/at least 2 usable images.*a\.png/);
        expect((await client.request('GET', '/v1/models/broken')).status).toBe(404);
        await expectNoLeftovers();
      }, 120_000);

      it('cancels a running run: its jobs stop and nothing it wrote is left', async () => {
        const runId = await client.train({ category: 'screw-cancel', dataset: path.join(SCREW, 'train/good'), backbone: 'resnet18', shards: 2 });
        await pollUntil(
          () => client.status(runId),
          (s) => s.shards.some((x) => x.state === 'active'),
          120_000,
          'a shard to start',
        );
        const cancel = await client.request('DELETE', `/v1/trainings/${runId}`);
        expect(cancel.status).toBe(202);
        expect(cancel.body.state).toBe('cancelled');
        await pollUntil(
          () => client.status(runId),
          (s) => s.shards.every((x) => x.state !== 'active' && x.state !== 'waiting') && s.reduce.state !== 'active',
          120_000,
          'the jobs to stop',
        );
        expect((await client.status(runId)).state).toBe('cancelled');
        expect((await client.request('GET', '/v1/models/screw-cancel')).status).toBe(404);
        await expectNoLeftovers();
      }, 300_000);

      it('serves the registry: list, promote, refuse to delete the current version, delete another', async () => {
        const versions = (await client.request('GET', '/v1/models/weave')).body;
        expect(versions.versions).toHaveLength(2);
        const [older, newer] = versions.versions.map((v: { version: string }) => v.version);
        expect(versions.current).toBe(newer);
        expect((await client.request('DELETE', `/v1/models/weave/versions/${newer}`)).status).toBe(409);
        expect((await client.request('POST', `/v1/models/weave/versions/${older}/promote`)).status).toBe(200);
        expect((await client.request('GET', '/v1/models/weave')).body.current).toBe(older);
        expect((await client.request('DELETE', `/v1/models/weave/versions/${newer}`)).status).toBe(204);
        expect((await client.request('GET', '/v1/models/weave')).body.versions).toHaveLength(1);
        expect((await client.request('POST', '/v1/models/weave/versions/nope/promote')).status).toBe(404);
        expect((await client.request('GET', '/v1/models/.hidden')).status).toBe(400);
        expect((await client.request('GET', '/v1/models/a%2Fb')).status).toBe(400);
        const list = await client.request('GET', '/v1/models');
        expect(list.body.map((c: { category: string }) => c.category)).toEqual(expect.arrayContaining(['screw', 'weave', 'weave-s3']));
      });

      it('lists the recent runs, newest first', async () => {
        const all = await client.request('GET', '/v1/trainings');
        expect(all.status).toBe(200);
        const runs = all.body as { runId: string; category: string; state: string; createdAt: string }[];
        // Redis keeps nothing on disk here, so only the runs since its restart are listed.
        expect(runs.length).toBeGreaterThanOrEqual(5);
        expect(runs.map((r) => r.createdAt)).toEqual([...runs.map((r) => r.createdAt)].sort().reverse());
        expect(runs.find((r) => r.category === 'weave-s3')!.state).toBe('completed');
        expect(runs.find((r) => r.category === 'screw-cancel')!.state).toBe('cancelled');
        expect(runs.find((r) => r.category === 'broken')!.state).toBe('failed');
        expect((await client.request('GET', '/v1/trainings?limit=2')).body).toHaveLength(2);
        expect((await client.request('GET', '/v1/trainings?limit=0')).status).toBe(400);
      });

      it('guards every route but health and readiness with an API key, the OpenAPI document at /docs included', async () => {
        expect((await client.request('GET', '/v1/models', undefined, { auth: false })).status).toBe(401);
        expect((await new FleetApiClient(client.baseUrl, 'wrong-key-0123456789').request('GET', '/v1/models')).status).toBe(401);
        expect((await client.request('GET', '/healthz', undefined, { auth: false })).status).toBe(200);
        expect((await client.request('GET', '/readyz', undefined, { auth: false })).body.status).toBe('ready');
        expect((await client.request('GET', '/docs/openapi.json', undefined, { auth: false })).status).toBe(401);
        expect((await client.request('GET', '/docs', undefined, { auth: false })).status).toBe(401);
        const doc = await client.request('GET', '/docs/openapi.json');
        expect(doc.status).toBe(200);
        expect(Object.keys(doc.body.paths)).toEqual(
          expect.arrayContaining(['/v1/trainings', '/v1/trainings/batch', '/v1/trainings/{id}', '/v1/models/{category}']),
        );
        expect(doc.body.paths['/v1/trainings'].post.requestBody.content['application/json'].schema.properties.category).toBeDefined();
        expect((await client.request('GET', '/docs')).status).toBe(200);
      });

      it('shuts a worker down gracefully on SIGTERM', async () => {
        const worker = workers.pop()!;
        expect(await worker.kill('SIGTERM')).toBe(0);
        expect(worker.output.join('\n')).toMatch(/SIGTERM, finishing current jobs/);
      });
    });
  });
});
