/**
 * npm run bench:score — on MVTec screw's test split (160 images) with a resnet18 d=100 model trained on screw:
 *   - backbone-only images/s, and in-process scoring images/s (decode + backbone + Mahalanobis + map);
 *   - batch scoring through the score pool (API + one score worker process + object store):
 *     decode + backbone + Mahalanobis + map + PNG encode + upload, from POST /v1/scorings to its results;
 *   - online scoring latency (p50/p95) of single images from 4 concurrent clients, model already cached.
 * The store is radosgw when it answers at S3_ENDPOINT, else a local folder. The last line is JSON.
 */
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { STORE_ROOTS } from '@padim-fleet/contracts';
import { publishModel } from '@padim-fleet/fleet';
import { PadimScorer, TrainedModel, embedImages, listMvtecTestSet, resolveBackbone, scoreImages, trainModel } from '@padim-fleet/inference';
import { ModelRegistry, S3BlobStore, createBlobStore } from '@padim-fleet/storage';
import { API_MAIN, FleetProcess, WORKER_MAIN, pollUntil } from '../fleet/fleet-process';
import {
  API_KEY,
  S3_ENDPOINT,
  S3_KEYS,
  backboneRate,
  benchStoreSpec,
  cpuMeter,
  fleetEnv,
  freePort,
  measureStep,
  percentile,
  pidsNamed,
  round,
  runBench,
  screwDir,
  screwTrainFiles,
} from './bench-common';

/** Concurrent online clients (BENCH_CLIENTS overrides, for diagnosis). */
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const REQUESTS_PER_CLIENT = 15;

interface PoolFigures {
  poolImagesPerSec: number;
  p50Ms: number;
  p95Ms: number;
  /** CPU ms per image of the batch scoring, per process group (null without /proc). */
  cpuMsPerImage: Record<string, number | null>;
}

/** Batch and online scoring through the API and one score worker process using every core. */
async function poolFigures(trained: TrainedModel, files: string[]): Promise<PoolFigures> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'padim-bench-score-'));
  const { spec, useS3 } = await benchStoreSpec(path.join(scratch, 'store'));
  const store = createBlobStore(spec, { endpoint: S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true, ...S3_KEYS });
  const port = await freePort();
  const env = fleetEnv(spec, { API_PORT: String(port), WORKER_ROLES: 'score', SCORE_CONCURRENCY: String(CLIENTS) });
  const api = FleetProcess.start('api', API_MAIN, env);
  const worker = FleetProcess.start('score-worker', WORKER_MAIN, env);
  const base = `http://127.0.0.1:${port}`;
  const auth = { authorization: `Bearer ${API_KEY}` };
  try {
    process.stdout.write(`pool store: ${spec}${useS3 ? ' (radosgw)' : ' (local folder)'}\n`);
    await publishModel(new ModelRegistry(store), 'screw', 'bench', trained);
    for (const file of files) await store.put(`bench-input/${path.relative(path.join(screwDir(), 'test'), file)}`, await fs.readFile(file));
    await api.waitForOutput(/api: listening/);
    await worker.waitForOutput(/worker: roles/);

    // Online first: warm the cache with one request, then CLIENTS clients each send single images in turn.
    const one = async (file: string) => {
      const form = new FormData();
      form.append('images', new Blob([await fs.readFile(file)]), path.basename(file));
      const started = process.hrtime.bigint();
      const res = await fetch(`${base}/v1/models/screw/score`, { method: 'POST', headers: auth, body: form });
      if (res.status !== 200) throw new Error(`online scoring: ${res.status} ${await res.text()}`);
      await res.json();
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    await one(files[0]);
    const latencies: number[] = [];
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        for (let i = 0; i < REQUESTS_PER_CLIENT; i++) latencies.push(await one(files[(c * REQUESTS_PER_CLIENT + i) % files.length]));
      }),
    );
    latencies.sort((a, b) => a - b);

    // Batch: the whole test split, from POST to the assembled results; with the CPU each process spent.
    const meter = cpuMeter({
      worker: worker.child.pid ? [worker.child.pid] : [],
      api: api.child.pid ? [api.child.pid] : [],
      store: useS3 ? pidsNamed(['radosgw', 'ceph-osd', 'ceph-mon']) : [],
      redis: pidsNamed(['redis-server']),
    });
    const started = process.hrtime.bigint();
    const res = await fetch(`${base}/v1/scorings`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ category: 'screw', input: useS3 ? `${spec}/bench-input/` : 'store:bench-input/', chunkSize: 40 }),
    });
    const { scoringId } = (await res.json()) as { scoringId: string };
    if (res.status !== 202) throw new Error(`POST /v1/scorings: ${res.status}`);
    const status = await pollUntil(
      async () => (await (await fetch(`${base}/v1/scorings/${scoringId}`, { headers: auth })).json()) as { state: string; error?: string; images: number },
      (s) => s.state === 'completed' || s.state === 'failed',
      600_000,
      'the batch scoring',
    );
    if (status.state !== 'completed') throw new Error(`batch scoring failed: ${status.error}`);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = meter();
    const cpuMsPerImage = Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v === null ? null : round((v * 1000) / status.images, 1)]));
    return { poolImagesPerSec: status.images / seconds, p50Ms: percentile(latencies, 50), p95Ms: percentile(latencies, 95), cpuMsPerImage };
  } finally {
    await Promise.all([api.kill('SIGTERM'), worker.kill('SIGTERM')]);
    if (useS3) {
      const s3 = new S3BlobStore({ endpoint: S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true, bucket: spec.slice(5), ...S3_KEYS });
      for (const prefix of [STORE_ROOTS.models, STORE_ROOTS.scorings, 'bench-input/', STORE_ROOTS.scores]) await s3.deletePrefix(prefix).catch(() => undefined);
    }
    rmSync(scratch, { recursive: true, force: true });
  }
}

const BATCH = 8;

async function main(): Promise<void> {
  const backbone = await resolveBackbone('resnet18');
  const trained = await trainModel({ category: 'screw', files: await screwTrainFiles(), backbone, embedding: { d: 100, seed: 42 }, batchSize: BATCH });
  const scorer = await PadimScorer.create({ ...trained.manifest, tensors: undefined as never }, trained.tensors, backbone);
  const test = await listMvtecTestSet(screwDir());
  const backboneOnly = await backboneRate(
    scorer.extractor,
    test.slice(0, 64).map((t) => t.file),
    BATCH,
    scorer.side,
  );
  let results: unknown[] = [];
  const scoring = await measureStep(
    () => results.length,
    async () =>
      (results = await scoreImages(
        scorer,
        test.map((t) => ({ file: t.file })),
        { batchSize: BATCH },
      )),
  );
  // Distances and maps alone, on embeddings made beforehand.
  const embedded = await embedImages(
    scorer.extractor,
    test.slice(0, 32).map((t) => t.file),
    { batchSize: BATCH },
  );
  let distanceMs = 0;
  let mapMs = 0;
  for (const b of embedded.batches) {
    let t = performance.now();
    const distances = await scorer.distancesFromEmbeddings(b.data, b.n);
    distanceMs += performance.now() - t;
    t = performance.now();
    await scorer.anomalyMaps(distances, b.n);
    mapMs += performance.now() - t;
  }
  await scorer.release();
  const pool = await poolFigures(
    trained,
    test.map((t) => t.file),
  );
  const summary = {
    backbone: 'resnet18',
    d: 100,
    size: scorer.side,
    batch: BATCH,
    threads: os.availableParallelism(),
    images: results.length,
    backboneImagesPerSec: round(backboneOnly.imagesPerSec, 2),
    scoreImagesPerSec: round(scoring.imagesPerSec, 2),
    ratio: round(scoring.imagesPerSec / backboneOnly.imagesPerSec),
    poolImagesPerSec: round(pool.poolImagesPerSec, 2),
    poolRatio: round(pool.poolImagesPerSec / backboneOnly.imagesPerSec),
    backboneCpuMsPerImage: round(backboneOnly.cpuMsPerImage, 1),
    scoreCpuMsPerImage: round(scoring.cpuMsPerImage, 1),
    cpuBoundRatio: round(backboneOnly.cpuMsPerImage / scoring.cpuMsPerImage),
    poolCpuMsPerImage: pool.cpuMsPerImage,
    p50Ms: round(pool.p50Ms, 1),
    p95Ms: round(pool.p95Ms, 1),
    distanceMsPerImage: round(distanceMs / 32, 2),
    mapMsPerImage: round(mapMs / 32, 2),
  };
  process.stdout.write(
    `backbone only   ${summary.backboneImagesPerSec} img/s (${summary.backboneCpuMsPerImage} ms CPU/image)\n` +
      `scoring         ${summary.scoreImagesPerSec} img/s (decode + backbone + Mahalanobis + map, ${summary.scoreCpuMsPerImage} ms CPU/image), ratio ${summary.ratio}\n` +
      `cpu-bound ratio ${summary.cpuBoundRatio} (backbone CPU / scoring CPU: the ratio with every core busy all the time)\n` +
      `score pool      ${summary.poolImagesPerSec} img/s (+ PNG encode + upload, through API and queue), ratio ${summary.poolRatio} (target >= 0.75)\n` +
      `pool CPU        ${Object.entries(summary.poolCpuMsPerImage)
        .map(([k, v]) => `${k} ${v ?? '?'}`)
        .join(', ')} ms per image (batch scoring, by process)\n` +
      `online          p50 ${summary.p50Ms} ms, p95 ${summary.p95Ms} ms (single images, ${CLIENTS} concurrent clients, model cached)\n` +
      `alone           Mahalanobis ${summary.distanceMsPerImage} ms/image, anomaly map ${summary.mapMsPerImage} ms/image (batches of ${BATCH})\n`,
  );
  process.stdout.write(JSON.stringify(summary) + '\n');
}

runBench('bench:score', main);
