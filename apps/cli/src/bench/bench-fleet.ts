#!/usr/bin/env node
/**
 * npm run bench:fleet — in one run, on screw (ResNet-18, d=100, 256 px):
 *   1. the in-process trainer (the whole `padim train`: extract, fit, thresholds);
 *   2. the fleet (HTTP API + BullMQ + worker processes + object store) with 1 and with 2 worker
 *      processes, from POST to a published model (default shard count: one per worker); in-process
 *      and 1-worker runs alternate three times (BENCH_FLEET_REPEATS) and their medians are compared;
 *   3. the reducer's merge of 4, 16 and 64 full-size partials (ResNet-18 d=100 at 256 px: 165 MB each).
 * The store is radosgw when it answers at S3_ENDPOINT (default http://127.0.0.1:7480), else a local folder.
 * BENCH_FLEET_QUICK=1 stops after the 1-worker fleet run (for iterating on the fleet's overhead).
 * Last line: {"inProcessSeconds","fleet1Seconds","fleet2Seconds","overhead","merge4Seconds","merge16Seconds","merge64Seconds"}.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import * as path from 'node:path';
import { STORE_ROOTS, redactCredentials } from '@padim-fleet/contracts';
import { accumulatorStream, mergePartials } from '@padim-fleet/compute';
import { resolveBackbone, trainModel } from '@padim-fleet/inference';
import { accumulateEmbeddings, createGaussianAccumulator } from '@padim-fleet/padim-core';
import { BlobStore, LocalBlobStore, S3BlobStore } from '@padim-fleet/storage';
import { API_MAIN, FleetProcess, WORKER_MAIN, pollUntil } from '../fleet/fleet-process';
import { API_KEY, S3_ENDPOINT, S3_KEYS, benchStoreSpec, fleetEnv, freePort, percentile, round, screwDir, screwTrainFiles } from './bench-common';

/** In-process and 1-worker fleet runs of each (BENCH_FLEET_REPEATS overrides). */
const REPEATS = Number(process.env.BENCH_FLEET_REPEATS ?? 3);

function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

async function fleetRun(workers: number, env: Record<string, string>): Promise<{ seconds: number; timings: unknown }> {
  const port = await freePort();
  const threads = String(Math.max(1, Math.floor(availableParallelism() / workers)));
  const processEnv = { ...env, API_PORT: String(port), PADIM_QUEUE_PREFIX: `bench-${randomUUID()}`, PADIM_THREADS: threads };
  const api = FleetProcess.start('api', API_MAIN, processEnv);
  const pool = Array.from({ length: workers }, (_, i) => FleetProcess.start(`worker-${i + 1}`, WORKER_MAIN, processEnv));
  try {
    await api.waitForOutput(/api: listening/);
    for (const w of pool) await w.waitForOutput(/worker: roles/);
    const headers = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' };
    const started = Date.now();
    const res = await fetch(`http://127.0.0.1:${port}/v1/trainings`, {
      method: 'POST',
      headers,
      // No shard count: the default, one shard per extract worker online.
      body: JSON.stringify({ category: `screw-${workers}`, dataset: path.join(screwDir(), 'train/good'), backbone: 'resnet18' }),
    });
    const body = (await res.json()) as { runId: string };
    if (res.status !== 202) throw new Error(`POST /v1/trainings: ${res.status} ${JSON.stringify(body)}`);
    const status = await pollUntil(
      async () =>
        (await (await fetch(`http://127.0.0.1:${port}/v1/trainings/${body.runId}`, { headers })).json()) as {
          state: string;
          error?: string;
          timings: unknown;
          shards: unknown[];
          result?: { stages?: unknown };
        },
      (s) => s.state === 'completed' || s.state === 'failed',
      1_800_000,
      'the fleet run',
    );
    const seconds = (Date.now() - started) / 1000;
    if (status.state !== 'completed') throw new Error(`fleet run failed: ${status.error}`);
    return { seconds, timings: { shards: status.shards.length, ...(status.timings as object), reduceStages: status.result?.stages } };
  } finally {
    await Promise.all([api, ...pool].map((p) => p.kill('SIGTERM')));
  }
}

/** Full-size partials (4096 positions, d=100) written under `count` keys; their contents are random but valid. */
async function writePartials(store: BlobStore, count: number): Promise<string[]> {
  const P = 4096;
  const d = 100;
  const acc = createGaussianAccumulator(P, d);
  const batch = new Float32Array(8 * d * P);
  for (let i = 0; i < batch.length; i++) batch[i] = Math.sin(i * 12.9898) * 43758.5453 - Math.floor(Math.sin(i * 12.9898) * 43758.5453);
  for (let r = 0; r < 3; r++)
    accumulateEmbeddings(
      acc,
      batch.map((x) => x * (r + 1)),
      8,
    );
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    const key = `bench/partials/shard-${String(i).padStart(4, '0')}.pdmacc`;
    await store.put(key, accumulatorStream(acc).stream);
    keys.push(key);
  }
  return keys;
}

async function main(): Promise<void> {
  const files = await screwTrainFiles();
  const scratch = mkdtempSync(path.join(tmpdir(), 'padim-bench-fleet-'));
  const { spec: storeSpec, useS3 } = await benchStoreSpec(path.join(scratch, 'store'));
  console.log(
    redactCredentials(
      `store: ${storeSpec}${useS3 ? ` (radosgw at ${S3_ENDPOINT})` : ' (radosgw not answering: local folder)'}; ${availableParallelism()} cores; ${files.length} images`,
    ),
  );
  try {
    const backbone = await resolveBackbone('resnet18');
    // Workers preload the backbone, as long-running workers have it; the in-process time excludes building it too.
    const env = fleetEnv(storeSpec, {
      PADIM_DATASET_ROOTS: path.dirname(screwDir()),
      PADIM_SCRATCH_DIR: path.join(scratch, 'reduce'),
      PADIM_PRELOAD_BACKBONES: 'resnet18',
    });
    // In-process and 1-worker runs alternate, REPEATS of each, and the medians are compared: on a shared
    // machine one pair can differ by a second either way.
    const inProcessRuns: number[] = [];
    const fleet1Runs: number[] = [];
    for (let r = 0; r < REPEATS; r++) {
      const t0 = Date.now();
      await trainModel({ category: 'screw', files, backbone });
      inProcessRuns.push((Date.now() - t0) / 1000);
      console.log(`in-process: ${inProcessRuns[r].toFixed(1)} s (${(files.length / inProcessRuns[r]).toFixed(1)} img/s)`);
      const fleet1 = await fleetRun(1, env);
      fleet1Runs.push(fleet1.seconds);
      console.log(`fleet, 1 worker: ${fleet1.seconds.toFixed(1)} s (${(files.length / fleet1.seconds).toFixed(1)} img/s) ${JSON.stringify(fleet1.timings)}`);
    }
    const inProcessSeconds = median(inProcessRuns);
    const fleet1Seconds = median(fleet1Runs);
    const overhead = fleet1Seconds / inProcessSeconds - 1;
    console.log(
      `medians of ${REPEATS}: in process ${inProcessSeconds.toFixed(2)} s, fleet with 1 worker ${fleet1Seconds.toFixed(2)} s: overhead ${(overhead * 100).toFixed(1)} % (target <= 10 %)`,
    );
    if (process.env.BENCH_FLEET_QUICK === '1') {
      console.log(JSON.stringify({ inProcessSeconds: round(inProcessSeconds, 2), fleet1Seconds: round(fleet1Seconds, 2), overhead: round(overhead, 3) }));
      return;
    }
    const fleet2 = await fleetRun(2, env);
    console.log(`fleet, 2 workers: ${fleet2.seconds.toFixed(1)} s (${(files.length / fleet2.seconds).toFixed(1)} img/s) ${JSON.stringify(fleet2.timings)}`);

    const mergeStore = new LocalBlobStore(path.join(scratch, 'merge-store'));
    const keys = await writePartials(mergeStore, 64);
    const merges: Record<number, number> = {};
    for (const n of [4, 16, 64]) {
      const t = Date.now();
      const merged = await mergePartials(mergeStore, keys.slice(0, n), { dir: path.join(scratch, `merge-${n}`) });
      merges[n] = (Date.now() - t) / 1000;
      console.log(`merge ${n} partials (${((n * 165.5) / 1024).toFixed(1)} GB, blocks of ${merged.blockPositions} positions): ${merges[n].toFixed(1)} s`);
      rmSync(path.join(scratch, `merge-${n}`), { recursive: true, force: true });
    }
    console.log(
      JSON.stringify({
        inProcessSeconds: round(inProcessSeconds, 2),
        fleet1Seconds: round(fleet1Seconds, 2),
        fleet2Seconds: round(fleet2.seconds, 2),
        overhead: round(overhead, 3),
        merge4Seconds: round(merges[4], 2),
        merge16Seconds: round(merges[16], 2),
        merge64Seconds: round(merges[64], 2),
      }),
    );
  } finally {
    if (useS3) {
      const store = new S3BlobStore({ endpoint: S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true, bucket: storeSpec.slice(5), ...S3_KEYS });
      await store.deletePrefix(STORE_ROOTS.models).catch(() => undefined);
      await store.deletePrefix(STORE_ROOTS.runs).catch(() => undefined);
    }
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  console.error(error.stack ?? error.message);
  process.exit(1);
});
