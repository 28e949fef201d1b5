/**
 * The fleet's Prometheus metrics from its real processes: the API's GET /metrics (behind the keys) and
 * a worker's /metrics and /healthz on WORKER_METRICS_PORT, after a small training and an online
 * scoring went through them. The two /metrics bodies are kept under test-output/metrics/.
 */
import { mkdirSync, promises as fs, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { TrainingStatus } from '@padim-fleet/contracts';
import { generateSyntheticDataset } from '@padim-fleet/inference';
import { FleetApiClient } from '../support/fleet-api';
import { setUpFleetE2e, tearDownFleetE2e, type FleetE2e } from '../support/fleet-e2e';
import { FleetProcess, REPO_ROOT, freePort, pollUntil } from '../support/fleet-processes';
import { PrivateRedis } from '../support/private-redis';
import { describeWithRedis, describeWithS3 } from '../support/services';

const API_KEY = 'e2e-metrics-Vb7nQ2xK9mLt4RcZ8wYp';
const OUTPUT = path.join(REPO_ROOT, 'test-output', 'metrics');

/** The samples of a Prometheus text exposition, by series (`name{labels}`). */
function samples(text: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    found.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return found;
}

describeWithRedis('fleet metrics end to end: the API and a worker, after a training and an online scoring', () => {
  describeWithS3('with S3', () => {
    let redis: PrivateRedis;
    let setup: FleetE2e;
    let api: FleetProcess;
    let worker: FleetProcess;
    let client: FleetApiClient;
    let workerUrl: string;
    let run: TrainingStatus;
    let apiText: string;
    let workerText: string;

    const scrapeApi = (auth: boolean) => fetch(`http://127.0.0.1:${setup.port}/metrics`, { headers: auth ? { authorization: `Bearer ${API_KEY}` } : {} });

    beforeAll(async () => {
      // A Redis of its own: the last test stops it.
      redis = await PrivateRedis.start();
      const workerPort = await freePort();
      workerUrl = `http://127.0.0.1:${workerPort}`;
      setup = await setUpFleetE2e({
        redisUrl: redis.url,
        apiKey: API_KEY,
        scratchPrefix: 'padim-e2e-metrics-',
        extra: (dir) => ({
          PADIM_DATASET_ROOTS: dir,
          PADIM_SCRATCH_DIR: path.join(dir, 'reduce'),
          WORKER_ROLES: 'extract,reduce,score',
          WORKER_METRICS_PORT: String(workerPort),
        }),
      });
      await generateSyntheticDataset(path.join(setup.scratch, 'line'), { size: 128, train: 12, testGood: 0, testPerDefect: 0 });
      api = await FleetProcess.startApi(setup.env);
      worker = await FleetProcess.startWorker('worker-1', setup.env);
      client = new FleetApiClient(`http://127.0.0.1:${setup.port}`, API_KEY);

      // Two shards: extract jobs, and a reduce that merges them.
      const runId = await client.train({ category: 'line', dataset: path.join(setup.scratch, 'line/train/good'), size: 128, shards: 2 });
      run = await client.waitForRun(runId);
      expect([run.state, run.error]).toEqual(['completed', undefined]);
      const form = new FormData();
      form.append('images', new Blob([await fs.readFile(path.join(setup.scratch, 'line/train/good/000.png'))]), '000.png');
      const scored = await fetch(`http://127.0.0.1:${setup.port}/v1/models/line/score`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}` },
        body: form,
      });
      expect(scored.status).toBe(200);

      expect((await scrapeApi(false)).status).toBe(401);
      const apiScrape = await scrapeApi(true);
      expect(apiScrape.status).toBe(200);
      expect(apiScrape.headers.get('content-type')).toMatch(/^text\/plain;.*version=0\.0\.4/);
      apiText = await apiScrape.text();
      const workerScrape = await fetch(`${workerUrl}/metrics`);
      expect(workerScrape.status).toBe(200);
      workerText = await workerScrape.text();
      mkdirSync(OUTPUT, { recursive: true });
      writeFileSync(path.join(OUTPUT, 'api.txt'), apiText);
      writeFileSync(path.join(OUTPUT, 'worker.txt'), workerText);
    }, 600_000);

    afterAll(async () => {
      await tearDownFleetE2e(setup, [api, worker]);
      await redis?.kill();
    }, 120_000);

    it("counts the API's requests under their route patterns and status, never a raw URL, and the online scoring's latency", () => {
      const api = samples(apiText);
      expect(api.get('padim_http_requests_total{method="POST",route="/v1/trainings",status="202"}')).toBe(1);
      expect(api.get('padim_http_requests_total{method="GET",route="/v1/trainings/:id",status="200"}')).toBeGreaterThanOrEqual(1);
      expect(api.get('padim_http_requests_total{method="POST",route="/v1/models/:category/score",status="200"}')).toBe(1);
      expect(api.get('padim_http_requests_total{method="GET",route="/metrics",status="401"}')).toBe(1);
      expect(api.get('padim_http_request_duration_seconds_count{method="POST",route="/v1/trainings",status="202"}')).toBe(1);
      expect(apiText).not.toContain(run.runId);
      expect(api.get('padim_online_scoring_seconds_count{status="200"}')).toBe(1);
      expect(api.get('padim_online_scoring_seconds_sum{status="200"}')).toBeGreaterThan(0);
    });

    it('reads the queue depths from Redis: every queue and state, the finished jobs kept as completed', () => {
      const api = samples(apiText);
      for (const queue of ['extract', 'reduce', 'score']) {
        for (const state of ['waiting', 'active', 'prioritized', 'waiting-children', 'failed']) {
          expect([queue, state, api.get(`padim_queue_jobs{queue="${queue}",state="${state}"}`)]).toEqual([queue, state, 0]);
        }
        // The hourly maintenance jobs (the sweep, the stale-write abort) wait as delayed jobs.
        expect(api.has(`padim_queue_jobs{queue="${queue}",state="delayed"}`)).toBe(true);
      }
      expect(api.get('padim_queue_jobs{queue="extract",state="completed"}')).toBe(2);
      // FitGaussian, and the stale-write abort when its first run came already.
      expect(api.get('padim_queue_jobs{queue="reduce",state="completed"}')).toBeGreaterThanOrEqual(1);
    });

    it("gives the worker's images, runs, job durations and model cache, each where the work happened", () => {
      const w = samples(workerText);
      const trainingImages = run.shards.reduce((sum, shard) => sum + shard.imagesTotal, 0);
      expect(trainingImages).toBeGreaterThan(0);
      expect(w.get('padim_images_extracted_total')).toBe(trainingImages);
      expect(w.get('padim_images_scored_total{kind="online"}')).toBe(1);
      expect(w.get('padim_images_scored_total{kind="batch"}')).toBe(0);
      expect(w.get('padim_training_runs_total{outcome="succeeded"}')).toBe(1);
      expect(w.get('padim_training_runs_total{outcome="failed"}')).toBe(0);
      expect(w.get('padim_scorings_total{kind="online",outcome="succeeded"}')).toBe(1);
      expect(w.get('padim_job_duration_seconds_count{queue="extract",job="ExtractFeatures",outcome="completed"}')).toBe(2);
      expect(w.get('padim_job_duration_seconds_count{queue="reduce",job="FitGaussian",outcome="completed"}')).toBe(1);
      expect(w.get('padim_job_duration_seconds_count{queue="score",job="ScoreImages",outcome="completed"}')).toBe(1);
      expect(w.get('padim_job_duration_seconds_sum{queue="extract",job="ExtractFeatures",outcome="completed"}')).toBeGreaterThan(0);
      expect(w.get('padim_model_cache_misses_total')).toBe(1);
      expect(w.get('padim_model_cache_hits_total')).toBe(0);
      expect(w.get('padim_model_cache_bytes')).toBeGreaterThan(0);
      for (const queue of ['extract', 'reduce', 'score']) expect([queue, w.get(`padim_worker_jobs_in_flight{queue="${queue}"}`)]).toEqual([queue, 0]);
    });

    it('has the process metrics in both: resident memory and event-loop lag', () => {
      for (const text of [apiText, workerText]) {
        const s = samples(text);
        expect(s.get('process_resident_memory_bytes')).toBeGreaterThan(0);
        expect(s.has('nodejs_eventloop_lag_seconds')).toBe(true);
        expect(s.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
      }
    });

    it("answers the worker's /healthz with 200 ok while it runs, 503 while Redis is out, and the API's /metrics without queue depths then", async () => {
      const health = async () => {
        const res = await fetch(`${workerUrl}/healthz`);
        return `${res.status} ${(await res.text()).trim()}`;
      };
      expect(await health()).toBe('200 ok');
      await redis.kill();
      expect(await pollUntil(health, (h) => h.startsWith('503'), 30_000, '/healthz to turn 503')).toMatch(/^503 not ok: redis connection/);
      const scrape = await scrapeApi(true);
      expect(scrape.status).toBe(200);
      const text = await scrape.text();
      expect(text).not.toContain('padim_queue_jobs{');
      expect(text).toContain('padim_http_requests_total{');
      await redis.restart();
      expect(await pollUntil(health, (h) => h.startsWith('200'), 30_000, '/healthz to turn 200 again')).toBe('200 ok');
    }, 120_000);
  });
});
