import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { Queue, QueueEvents } from 'bullmq';
import {
  FleetConfig,
  JobName,
  QueueName,
  TrainingPlan,
  TrainingRequest,
  TrainingStatus,
  abortStaleWrites,
  loadFleetConfig,
  trainingRequest,
} from '@padim-fleet/contracts';
import { TrainingRuns, createFleetLogger, createRedis, loadRegistryModel, planTraining } from '@padim-fleet/fleet';
import { generateSyntheticDataset, listImagesRecursive, resolveBackbone, trainModel } from '@padim-fleet/inference';
import { ModelManifest, deserializeAccumulator, parseModelManifest } from '@padim-fleet/padim-core';
import { BlobBody, BlobStore, LocalBlobStore, ModelRegistry, PutOptions, modelVersionPrefix } from '@padim-fleet/storage';
import { FleetWorker, startFleetWorker } from '../../apps/worker/src/fleet-worker';
import { describeWithShared } from '../../libs/inference/src/testing/shared-data';
import { pollUntil } from '../support/fleet-processes';
import { relativeDifference } from '../support/model-compare';
import { describeWithRedis, redisTestUrl, testName } from '../support/services';

type PutHook = (key: string) => Promise<void>;

/** `store` with every put first shown to `hook`, which may fail it (throw) or hold it back (wait). */
function hookedStore(store: LocalBlobStore, hook: PutHook): BlobStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === 'put') {
        return async (key: string, body: BlobBody, opts?: PutOptions) => {
          await hook(key);
          return target.put(key, body, opts);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describeWithShared('training flow (in-process workers, real Redis, local store)', () => {
  describeWithRedis('extract → reduce', () => {
    let dir: string;
    let data: string;
    let config: FleetConfig;
    let store: LocalBlobStore;
    let registry: ModelRegistry;
    let runs: TrainingRuns;
    let worker: FleetWorker;
    const redis = createRedis(redisTestUrl(), 'padim-test');
    /** Puts of models/<category>/... go through the hook a test sets for that category (to fail or hold them). */
    const putHooks = new Map<string, PutHook>();

    beforeAll(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'padim-flow-'));
      data = path.join(dir, 'data');
      await generateSyntheticDataset(data, { size: 96, train: 24, testGood: 2, testPerDefect: 2 });
      config = loadFleetConfig({
        REDIS_URL: redisTestUrl(),
        PADIM_QUEUE_PREFIX: testName(),
        PADIM_STORE: path.join(dir, 'store'),
        PADIM_DATASET_ROOTS: dir,
        PADIM_SCRATCH_DIR: path.join(dir, 'scratch'),
        JOB_ATTEMPTS: '2',
        JOB_BACKOFF_MS: '200',
        PADIM_THREADS: '2',
        REDUCE_MEMORY_MB: '2',
      });
      store = new LocalBlobStore(config.PADIM_STORE);
      registry = new ModelRegistry(store);
      runs = new TrainingRuns(redis, config.PADIM_QUEUE_PREFIX, store, { attempts: config.JOB_ATTEMPTS, backoffMs: config.JOB_BACKOFF_MS });
      const hooked = hookedStore(store, async (key) => putHooks.get(key.split('/')[1])?.(key));
      worker = await startFleetWorker(config, { store: hooked, logger: createFleetLogger({ LOG_LEVEL: 'silent' }, 'worker') });
    }, 120_000);

    afterAll(async () => {
      await worker?.close(5000);
      await runs?.close();
      const keys = await redis.keys(`${config.PADIM_QUEUE_PREFIX}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
      rmSync(dir, { recursive: true, force: true });
    });

    function plan(input: Partial<TrainingRequest> & { dataset: string }, createdAt = new Date()): Promise<TrainingPlan> {
      const request = trainingRequest.parse({ category: 'weave', backbone: 'resnet18', size: 64, ...input });
      return planTraining(request, {
        runId: crypto.randomUUID(),
        createdAt,
        datasetRoots: config.PADIM_DATASET_ROOTS,
        s3: { region: 'us-east-1', forcePathStyle: true },
      });
    }

    async function submit(planned: TrainingPlan): Promise<TrainingPlan> {
      await runs.submit(planned);
      return planned;
    }

    async function run(planned: TrainingPlan): Promise<TrainingStatus> {
      await submit(planned);
      return pollUntil(
        () => runs.status(planned.runId).then((s) => s!),
        (s) => s.state === 'completed' || s.state === 'failed',
        120_000,
        `run ${planned.runId}`,
      );
    }

    async function train(input: Partial<TrainingRequest> & { dataset: string }): Promise<TrainingStatus> {
      return run(await plan(input));
    }

    const loadTensors = async (manifest: ModelManifest) => (await loadRegistryModel(registry, manifest.category, versionOf(manifest))).tensors;
    const versions = new Map<ModelManifest, string>();
    const versionOf = (m: ModelManifest) => versions.get(m)!;
    async function manifestOf(status: TrainingStatus): Promise<ModelManifest> {
      const m = parseModelManifest(await registry.readManifest(status.category, status.version));
      versions.set(m, status.version);
      return m;
    }

    it('trains in 3 shards to the model the in-process trainer makes, and cleans up its partials', async () => {
      const status = await train({ dataset: path.join(data, 'train/good'), shards: 3 });
      expect(status.error).toBeUndefined();
      expect(status.state).toBe('completed');
      expect(status.shards.map((s) => [s.state, s.imagesDone])).toEqual([
        ['completed', 7],
        ['completed', 7],
        ['completed', 8],
      ]);
      expect(status.heldOutCount).toBe(2);
      const manifest = await manifestOf(status);
      expect(await registry.getCurrent('weave')).toBe(status.version);

      const files = await listImagesRecursive(path.join(data, 'train/good'));
      const local = await trainModel({
        category: 'weave',
        files,
        backbone: await resolveBackbone('resnet18'),
        size: 64,
        runtime: { threads: 2 },
        keepAccumulator: true,
      });
      expect(local.accumulator!.count).toBe(local.manifest.training.imageCount);
      const fleet = await loadTensors(manifest);
      expect(relativeDifference(fleet.mean, local.tensors.mean)).toBeLessThan(1e-5);
      expect(relativeDifference(fleet.invCholesky, local.tensors.invCholesky)).toBeLessThan(1e-5);
      expect(manifest.thresholds.rule).toBe(local.manifest.thresholds.rule);
      expect(manifest.thresholds.image).toBeCloseTo(local.manifest.thresholds.image, 3);
      expect(manifest.training.imageCount).toBe(local.manifest.training.imageCount);

      const left: string[] = [];
      for await (const info of store.list('runs/')) left.push(info.key);
      expect(left).toEqual([]);
    }, 240_000);

    it('fits a run of one shard in its extract job: the same model as in process, and its statistics stored for extending it', async () => {
      const status = await train({ dataset: path.join(data, 'train/good'), shards: 1, category: 'weave-one' });
      expect(status.error).toBeUndefined();
      expect(status.state).toBe('completed');
      // The reducer only copied the fitted files into the version and wrote the manifest.
      expect(Object.keys(status.result?.stages ?? {})).toEqual(expect.arrayContaining(['fitInExtractSeconds', 'copySeconds']));
      expect(status.result?.stages).not.toHaveProperty('mergeSeconds');
      const manifest = await manifestOf(status);
      const files = await listImagesRecursive(path.join(data, 'train/good'));
      const local = await trainModel({
        category: 'weave-one',
        files,
        backbone: await resolveBackbone('resnet18'),
        size: 64,
        runtime: { threads: 2 },
        keepAccumulator: true,
      });
      const fleet = await loadTensors(manifest);
      expect(relativeDifference(fleet.mean, local.tensors.mean)).toBeLessThan(1e-5);
      expect(relativeDifference(fleet.invCholesky, local.tensors.invCholesky)).toBeLessThan(1e-5);
      expect(manifest.thresholds.rule).toBe(local.manifest.thresholds.rule);
      expect(manifest.thresholds.sampleCount).toBe(local.manifest.thresholds.sampleCount);
      expect(manifest.thresholds.image).toBeCloseTo(local.manifest.thresholds.image, 3);
      expect([manifest.training.imageCount, manifest.training.heldOutCount]).toEqual([
        local.manifest.training.imageCount,
        local.manifest.training.heldOutCount,
      ]);
      expect(manifest.lineage).toEqual({ runId: status.runId, baseVersion: null });
      // The stored statistics are the fitted images' (checked against the manifest's SHA-256 on read).
      const stored = deserializeAccumulator(
        new Uint8Array(await registry.readArtifact('weave-one', status.version, manifest.accumulator!.file, manifest.accumulator!)),
      );
      expect(stored.count).toBe(local.accumulator!.count);
      expect(relativeDifference(Float32Array.from(stored.mean), Float32Array.from(local.accumulator!.mean))).toBeLessThan(1e-6);
      const left: string[] = [];
      for await (const info of store.list('runs/')) left.push(info.key);
      expect(left).toEqual([]);
    }, 240_000);

    it("sets the threshold by the request's rule in the extract job's fit and in the reducer, as the in-process trainer does", async () => {
      const files = await listImagesRecursive(path.join(data, 'train/good'));
      // 2 held out: a target of 0.5 lets one of them through, halfway between their two scores
      const local = await trainModel({
        category: 'weave-fpr',
        files,
        backbone: await resolveBackbone('resnet18'),
        size: 64,
        runtime: { threads: 2 },
        thresholdRule: { kind: 'fpr', fpr: 0.5 },
      });
      expect(local.manifest.thresholds).toMatchObject({ rule: 'holdout-fpr', targetFpr: 0.5, sampleCount: 2, falsePositives: { count: 1, of: 2, rate: 0.5 } });
      for (const shards of [1, 2]) {
        const status = await train({ dataset: path.join(data, 'train/good'), shards, category: 'weave-fpr', thresholdRule: { kind: 'fpr', fpr: 0.5 } });
        expect(status.error).toBeUndefined();
        const manifest = await manifestOf(status);
        expect(Object.keys(status.result?.stages ?? {})).toContain(shards === 1 ? 'fitInExtractSeconds' : 'mergeSeconds');
        const { image, ...rest } = manifest.thresholds;
        const { image: localImage, ...localRest } = local.manifest.thresholds;
        expect(image).toBeCloseTo(localImage, 3);
        expect({ ...rest, pixel: 0, min: 0, max: 0 }).toEqual({ ...localRest, pixel: 0, min: 0, max: 0 });
      }
    }, 240_000);

    it('publishes without moving current when the request says promote: false', async () => {
      const before = await registry.getCurrent('weave');
      const status = await train({ dataset: path.join(data, 'train/good'), shards: 1, promote: false });
      expect(status.state).toBe('completed');
      expect(status.result?.current).toBe(false);
      expect(await registry.listVersions('weave')).toContain(status.version);
      expect(await registry.getCurrent('weave')).toBe(before);
    }, 240_000);

    it('a run that finishes after a newer version became current leaves current alone; an explicit promote may still roll back', async () => {
      const input = { dataset: path.join(data, 'train/good'), shards: 1, category: 'weave-late' };
      const older = await plan(input, new Date(Date.now() - 60_000));
      const newer = await plan(input);
      const first = await run(newer);
      expect([first.state, first.result?.current]).toEqual(['completed', true]);
      expect(await registry.getCurrent('weave-late')).toBe(newer.version);
      // The run submitted earlier finishes last: its version is published, current stays the newer one.
      const late = await run(older);
      expect([late.state, late.result?.current]).toEqual(['completed', false]);
      expect(await registry.listVersions('weave-late')).toEqual([older.version, newer.version]);
      expect(await registry.getCurrent('weave-late')).toBe(newer.version);
      await registry.setCurrent('weave-late', older.version);
      expect(await registry.getCurrent('weave-late')).toBe(older.version);
    }, 240_000);

    it('sets F1-optimal thresholds and stores metrics when the request names a validation set', async () => {
      const status = await train({ dataset: path.join(data, 'train/good'), validation: data, shards: 2, category: 'weave-val' });
      expect(status.error).toBeUndefined();
      expect(status.heldOutCount).toBe(0);
      const manifest = await manifestOf(status);
      expect(manifest.thresholds.rule).toBe('validation-f1');
      expect(manifest.training.imageCount).toBe(24);
      expect(Object.keys(manifest.metrics ?? {}).sort()).toEqual(['aupro', 'imageAUROC', 'imageF1', 'pixelAUROC', 'pixelF1']);
      expect(manifest.metrics!.imageAUROC).toBeGreaterThan(0.5);
      expect(status.result?.metrics).toEqual(manifest.metrics);
      // The evaluation report on the validation set is stored with the version.
      const report = `${modelVersionPrefix('weave-val', status.version)}report/`;
      expect((await keysUnder(report)).map((key) => key.slice(report.length)).sort()).toEqual([
        'pro.png',
        'report.html',
        'roc.png',
        'score-histograms.png',
        'worst-cases.png',
      ]);
      const html = (await store.get(`${report}report.html`)).toString('utf8');
      expect(html).toContain(`<tr><th>AUPRO@0.3</th><td>${manifest.metrics!.aupro!.toFixed(4)}</td></tr>`);
      expect(html).toContain('<tr><th>rule</th><td>validation-f1</td></tr>');
    }, 240_000);

    it('stores null pixel metrics and completes when the validation set has no ground_truth/', async () => {
      const { promises: fs } = await import('node:fs');
      const withoutMasks = path.join(dir, 'validation-without-masks');
      await fs.cp(path.join(data, 'test'), path.join(withoutMasks, 'test'), { recursive: true });
      const status = await train({ dataset: path.join(data, 'train/good'), validation: withoutMasks, shards: 2, category: 'weave-val-no-masks' });
      expect(status.error).toBeUndefined();
      expect(status.state).toBe('completed');
      const manifest = await manifestOf(status);
      expect(manifest.thresholds.rule).toBe('validation-f1');
      expect(manifest.thresholds.pixel).toBe(manifest.thresholds.image);
      expect(manifest.metrics).toMatchObject({ pixelAUROC: null, aupro: null, pixelF1: null });
      expect(manifest.metrics!.imageAUROC).toBeGreaterThan(0.5);
      expect(status.result?.metrics).toEqual(manifest.metrics);
      const report = `${modelVersionPrefix('weave-val-no-masks', status.version)}report/`;
      expect((await keysUnder(report)).map((key) => key.slice(report.length)).sort()).toEqual([
        'report.html',
        'roc.png',
        'score-histograms.png',
        'worst-cases.png',
      ]);
      expect((await store.get(`${report}report.html`)).toString('utf8')).toContain('No PRO curve: the test set has no ground-truth masks.');
    }, 240_000);

    it('extends a stored version with new images (baseVersion) to the model of all images at once', async () => {
      const good = path.join(data, 'train/good');
      const all = await listImagesRecursive(good);
      // Two disjoint folders of the same images, as a product line that gets more photos later.
      const { promises: fs } = await import('node:fs');
      const first = path.join(dir, 'first');
      const second = path.join(dir, 'second');
      await fs.mkdir(first);
      await fs.mkdir(second);
      for (const [i, file] of all.entries()) await fs.copyFile(file, path.join(i < 10 ? first : second, path.basename(file)));

      const base = await train({ dataset: first, holdout: 0, shards: 2, category: 'weave-inc' });
      expect(base.state).toBe('completed');
      const extended = await train({ dataset: second, holdout: 0, shards: 2, category: 'weave-inc', baseVersion: base.version });
      expect(extended.error).toBeUndefined();
      const whole = await train({ dataset: good, holdout: 0, shards: 1, category: 'weave-all' });

      const [m1, m2] = [await manifestOf(extended), await manifestOf(whole)];
      expect(m1.training.imageCount).toBe(all.length);
      expect(m1.lineage).toEqual({ runId: extended.runId, baseVersion: base.version });
      const [a, b] = [await loadTensors(m1), await loadTensors(m2)];
      expect(relativeDifference(a.mean, b.mean)).toBeLessThan(1e-5);
      expect(relativeDifference(a.invCholesky, b.invCholesky)).toBeLessThan(1e-5);
    }, 240_000);

    function finished(runId: string): Promise<TrainingStatus> {
      const settled = (s: TrainingStatus) => s.reduce.state === 'completed' || s.reduce.state === 'failed';
      return pollUntil(() => runs.status(runId).then((s) => s!), settled, 120_000, `run ${runId} to settle`);
    }

    async function keysUnder(prefix: string): Promise<string[]> {
      const keys: string[] = [];
      for await (const info of store.list(prefix)) keys.push(info.key);
      return keys;
    }

    it('a reduce that fails for good after uploading the version files removes them (merged and one-shard runs)', async () => {
      putHooks.set('weave-fail', async (key) => {
        if (key.endsWith('/manifest.json')) throw new Error('the store refused the manifest');
      });
      for (const shards of [2, 1]) {
        const status = await finished((await submit(await plan({ dataset: path.join(data, 'train/good'), category: 'weave-fail', shards }))).runId);
        expect([shards, status.state, status.reduce.attemptsMade]).toEqual([shards, 'failed', 2]);
        expect(status.error).toMatch(/refused the manifest/);
        expect([shards, await keysUnder('models/weave-fail/')]).toEqual([shards, []]);
        expect([shards, await keysUnder('runs/')]).toEqual([shards, []]);
      }
    }, 240_000);

    it('a run cancelled while its reduce uploads is not published, and its version files are removed', async () => {
      let reached!: () => void;
      const uploading = new Promise<void>((resolve) => (reached = resolve));
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      putHooks.set('weave-cancel', async (key) => {
        if (!key.endsWith('/manifest.json')) {
          reached();
          await released;
        }
      });
      const { runId } = await submit(await plan({ dataset: path.join(data, 'train/good'), category: 'weave-cancel', shards: 2 }));
      await uploading;
      expect((await runs.cancel(runId))?.state).toBe('cancelled');
      release();
      const status = await finished(runId);
      expect([status.state, status.reduce.state]).toEqual(['cancelled', 'failed']);
      expect(await keysUnder('models/weave-cancel/')).toEqual([]);
      expect(await keysUnder('runs/')).toEqual([]);
    }, 240_000);

    it('the reduce workers schedule aborting stale writes; the job removes a crashed write older than STALE_WRITE_HOURS', async () => {
      const queue = new Queue(QueueName.Reduce, { connection: redis, prefix: config.PADIM_QUEUE_PREFIX });
      const eventsConnection = redis.duplicate();
      const events = new QueueEvents(QueueName.Reduce, { connection: eventsConnection, prefix: config.PADIM_QUEUE_PREFIX });
      try {
        expect((await queue.getJobScheduler(abortStaleWrites.jobId()))?.every).toBe(3600_000);
        const { promises: fs } = await import('node:fs');
        const leftovers = path.join(config.PADIM_STORE, 'runs', 'crashed-run');
        await fs.mkdir(leftovers, { recursive: true });
        const stale = path.join(leftovers, '.shard-0000.pdmacc.tmp-0123456789ab');
        const recent = path.join(config.PADIM_STORE, '.other.tmp-abcdef012345');
        await fs.writeFile(stale, 'half a partial');
        await fs.writeFile(recent, 'a write in progress');
        const longAgo = new Date(Date.now() - (config.STALE_WRITE_HOURS + 1) * 3600_000);
        await fs.utimes(stale, longAgo, longAgo);
        const job = await queue.add(JobName.AbortStaleWrites, {});
        await expect(job.waitUntilFinished(events, 30_000)).resolves.toEqual({ aborted: 1 });
        await expect(fs.stat(leftovers)).rejects.toThrow(/ENOENT/);
        await expect(fs.readFile(recent, 'utf8')).resolves.toBe('a write in progress');
        await fs.rm(recent);
      } finally {
        await events.close();
        await eventsConnection.quit();
        await queue.close();
      }
    });
  });
});
