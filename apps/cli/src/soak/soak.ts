#!/usr/bin/env node
/**
 * npm run soak [-- --duration <s>] [-- --short] [-- --logs <dir>] — the fleet under load with faults, on loopback only.
 *
 * Starts a private redis-server, a TCP relay in front of radosgw (so the store can be cut), the API,
 * 2 extract/reduce workers and 2 score workers (resnet18, one onnxruntime thread each), on a fresh
 * bucket and queue prefix. For the duration it trains fixed subsets of screw under several category
 * names, scores single images online from 8 clients, and scores archives with corrupt entries in
 * batch; meanwhile it SIGKILLs a random worker every 30-60 s (and starts a replacement), cuts the
 * store for 20 s once and restarts Redis once. Then it waits for the work in flight, checks every
 * model, row and leftover object, and prints one JSON line (SoakSummary) last. Exits 1 when a target
 * is missed (`failedTargets` names them).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, promises as fs, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { ZipFile } from 'yazl';
import { DeleteBucketCommand, S3Client } from '@aws-sdk/client-s3';
import {
  QueueName,
  STORE_ROOTS,
  assembleScoring,
  prepareScoring,
  scoreChunk,
  type ScoreRow,
  type ScoringStatus,
  type TrainingStatus,
} from '@padim-fleet/contracts';
import { loadRegistryModel, publishModel } from '@padim-fleet/fleet';
import { TrainedModel, listImagesRecursive, resolveBackbone, trainModel } from '@padim-fleet/inference';
import { MANIFEST_FILE } from '@padim-fleet/padim-core';
import { ModelRegistry, S3BlobStore, SCORING_OUTPUTS } from '@padim-fleet/storage';
import { CommandSpec, HelpRequested, UsageError, intOption, parseCommand } from '../args';
import { S3_ENDPOINT, S3_KEYS, benchStoreSpec, percentile, round, screwDir } from '../bench/bench-common';
import { FleetProcess, freePort, sleep } from '../fleet/fleet-process';
import { relativeDifference } from '../fleet/model-compare';
import { PrivateRedis } from './private-redis';
import { RssSample, jobsInFlight, restingRssMB } from './resting-rss';
import { TcpProxy } from './tcp-proxy';

const execFileAsync = promisify(execFile);

/** Training images per category and their side: small, so runs are many and the 2 shared cores stay usable. */
const IMAGES_PER_CATEGORY = 30;
const TRAIN_SIZE = 128;
const ONLINE_CLIENTS = 8;
/** Pause of each online client between requests. */
const ONLINE_THINK_MS = 1000;
const STORE_OUTAGE_MS = 20_000;
/** After a fault, errors within this long are put down to it. */
const FAULT_GRACE_MS = 15_000;
/**
 * A fleet model must equal the in-process one within this. On the Gram path (the CPU's default at
 * d=100) each sums its co-moments in float32 over its own groups of images, and the fleet's groups are
 * its shards': each model lies within 1e-5 of the float64 kernel's, so within 2e-5 of the other.
 */
const MODEL_TOLERANCE = 2e-5;
const ONLINE_CATEGORY = 'soak-online';
/**
 * After a store outage, how long until the clean-ups it held up have retried (the removal of online
 * uploads retries 1, 2, 4 ... 32 s apart: its first attempt after a 20 s outage comes within about 20 s).
 */
const CLEAN_UP_RETRY_MS = 40_000;
/** Soaks at least this long check worker RSS growth (each quarter a minute or more). */
const RSS_CHECK_MIN_SECONDS = 240;

export interface SoakOptions {
  durationSeconds: number;
  short: boolean;
  /** Where to write each process's last output lines at the end (none when undefined). */
  logsDir?: string;
}

export interface SoakSummary {
  durationSeconds: number;
  short: boolean;
  /** Training requests made: accepted (202) or answered with a 4xx, which counts as a failed run. */
  runsSubmitted: number;
  runsSucceeded: number;
  runsFailed: number;
  runFailures: { runId: string; category: string; reason: string }[];
  /** Runs still not finished when the drain deadline passed. */
  runsUnfinished: number;
  modelsCompared: number;
  modelsIdenticalToInProcess: number;
  maxModelDifference: number;
  /** 5xx or network answers to submissions, retried (a client's view of the faults). */
  submitRetries: Record<string, number>;
  onlineRequests: number;
  onlineErrors: Record<string, number>;
  onlineErrorsOutsideFaults: number;
  /** Online errors by the fault whose window (plus FAULT_GRACE_MS) they fall in, then by answer. */
  onlineErrorsByFault: Record<string, Record<string, number>>;
  /** The first answer of each kind of error, to explain it. */
  onlineErrorSamples: Record<string, string>;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  batchScorings: number;
  batchScoringsFailed: { scoringId: string; reason: string }[];
  batchRows: number;
  batchRowsExpected: number;
  duplicateRows: number;
  lostRows: number;
  /** Rows of good images with an error, or of corrupt entries with a score. */
  wrongRows: number;
  orphanObjects: number;
  orphanExamples: string[];
  /** Version folders without a manifest (half-written models). */
  incompleteVersions: number;
  workerKills: number;
  /** Worker or API processes that exited without being killed by the soak. */
  unexpectedExits: string[];
  storeOutages: number;
  redisRestarts: number;
  workerRssStartMB: number;
  workerRssEndMB: number;
  /** Resting worker RSS in the second and the last quarter: per role, the median over its warm workers' samples taken between jobs (restingRssMB); then the mean over roles. */
  workerRssQ2MB: number;
  workerRssQ4MB: number;
  workerRssGrowth: number;
  /** The same growth from the mean of the warm workers at each sample, which swings with the jobs in flight and with replacements warming up. */
  workerRssMeanGrowth: number;
  /** Workers up through the second and the last quarter, and the largest growth of one's RSS between them. */
  survivingWorkers: number;
  survivingWorkerRssGrowth: number | null;
  failedTargets: string[];
}

type WorkerRole = 'extract,reduce' | 'score';

interface Worker {
  process: FleetProcess;
  role: WorkerRole;
  startedAt: number;
  killedBySoak: boolean;
  /** Its /metrics, read at each RSS sample for the jobs it has in flight. */
  metricsUrl: string;
}

interface FaultWindow {
  kind: string;
  start: number;
  end: number;
}

interface Category {
  name: string;
  files: string[];
  reference: TrainedModel;
}

function log(message: string): void {
  process.stderr.write(`soak ${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

/** Why a run or scoring did not finish: its record went (404) after the state last seen, or the deadline passed. */
function unfinishedReason(lastState: string | undefined, lost: boolean): string {
  return lost ? `its record went (404) after state ${lastState}` : `unfinished at the deadline (last state ${lastState ?? 'unknown'})`;
}

function count(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

function rssMB(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

function mean(values: number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/** A .zip or .tar.gz of `entries` (path → bytes) written to `file`. */
async function writeArchive(file: string, entries: Map<string, Buffer>): Promise<void> {
  if (file.endsWith('.zip')) {
    const zip = new ZipFile();
    for (const [name, data] of entries) zip.addBuffer(data, name);
    zip.end();
    await new Promise<void>((resolve, reject) => zip.outputStream.pipe(createWriteStream(file)).on('close', resolve).on('error', reject));
    return;
  }
  const dir = `${file}.d`;
  for (const [name, data] of entries) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), data);
  }
  await execFileAsync('tar', ['-czf', file, '-C', dir, ...entries.keys()]);
  await fs.rm(dir, { recursive: true, force: true });
}

class Soak {
  private readonly scratch = mkdtempSync(path.join(os.tmpdir(), 'padim-soak-'));
  private readonly apiKey = randomBytes(24).toString('hex');
  private readonly faults: FaultWindow[] = [];
  private readonly workers: Worker[] = [];
  private readonly unexpectedExits: string[] = [];
  private readonly rssSamples: { at: number; meanMB: number }[] = [];
  /** Every sample of every warm worker, by worker name. */
  private readonly workerRss = new Map<string, RssSample[]>();
  private api!: FleetProcess;
  private redis!: PrivateRedis;
  private proxy!: TcpProxy;
  private store!: S3BlobStore;
  private bucket!: string;
  private env!: Record<string, string>;
  private baseUrl!: string;
  private categories: Category[] = [];
  private onlineImages: Buffer[] = [];
  private batchImages: { name: string; data: Buffer }[] = [];
  private loadStart = 0;
  private loadEnd = 0;
  private drainDeadline = 0;
  private workerKills = 0;
  private workersStarted = 0;
  private redisRestarts = 0;
  private storeOutages = 0;

  // Tallies of the load.
  private runsSubmitted = 0;
  private runsSucceeded = 0;
  private runsUnfinished = 0;
  private readonly runFailures: SoakSummary['runFailures'] = [];
  private modelsCompared = 0;
  private modelsIdentical = 0;
  private maxModelDifference = 0;
  private readonly submitRetries: Record<string, number> = {};
  private onlineRequests = 0;
  private readonly onlineErrors: Record<string, number> = {};
  /** When each failed online request was sent and answered. */
  private readonly onlineErrorTimes: { from: number; at: number; outcome: string }[] = [];
  private readonly onlineErrorSamples: Record<string, string> = {};
  private readonly latencies: number[] = [];
  private batchScorings = 0;
  private readonly batchScoringsFailed: SoakSummary['batchScoringsFailed'] = [];
  private batchRows = 0;
  private batchRowsExpected = 0;
  private duplicateRows = 0;
  private lostRows = 0;
  private wrongRows = 0;

  constructor(private readonly opts: SoakOptions) {}

  async run(): Promise<SoakSummary> {
    try {
      await this.setUp();
      this.loadStart = Date.now();
      this.loadEnd = this.loadStart + this.opts.durationSeconds * 1000;
      this.drainDeadline = this.loadEnd + (this.opts.short ? 90_000 : 180_000);
      log(`load for ${this.opts.durationSeconds} s`);
      const load = [
        ...Array.from({ length: this.opts.short ? 1 : 2 }, (_, i) => this.trainingLoop(i)),
        ...Array.from({ length: ONLINE_CLIENTS }, (_, i) => this.onlineClient(i)),
        this.batchLoop(),
        this.killLoop(),
        this.storeOutage(),
        this.redisRestart(),
        this.sampleLoop(),
        this.probeStore(),
      ];
      await Promise.all(load);
      log('load over; checking the store');
      return await this.summarise();
    } finally {
      await this.tearDown();
    }
  }

  private async setUp(): Promise<void> {
    const { spec, useS3 } = await benchStoreSpec(path.join(this.scratch, 'unused'));
    if (!useS3) throw new Error(`radosgw does not answer at ${S3_ENDPOINT}: start it with \`npm run services\``);
    this.bucket = spec.slice('s3://'.length);
    this.store = new S3BlobStore({ endpoint: S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true, bucket: this.bucket, ...S3_KEYS });
    const radosgw = new URL(S3_ENDPOINT);
    this.proxy = await TcpProxy.start({ host: radosgw.hostname, port: Number(radosgw.port || 80) });
    this.redis = new PrivateRedis(await freePort(), this.scratch);
    await this.redis.start();
    log(`bucket ${this.bucket}, redis on ${this.redis.port}, store relay on ${this.proxy.port}`);

    // Fixed data: each category is its own slice of screw's train/good, stored under soak-data/<name>/,
    // and the in-process trainer's model of the same images is what every fleet run must equal.
    const train = await listImagesRecursive(path.join(screwDir(), 'train/good'));
    const names = this.opts.short ? ['soak-a', 'soak-b'] : ['soak-a', 'soak-b', 'soak-c'];
    const backbone = await resolveBackbone('resnet18');
    for (const [i, name] of names.entries()) {
      const files = train.slice(i * IMAGES_PER_CATEGORY, (i + 1) * IMAGES_PER_CATEGORY);
      for (const file of files) await this.store.put(`soak-data/${name}/${path.basename(file)}`, await fs.readFile(file));
      const reference = await trainModel({ category: name, files, backbone, size: TRAIN_SIZE, runtime: { threads: 1, backboneSessions: 1 } });
      this.categories.push({ name, files, reference });
    }
    await publishModel(new ModelRegistry(this.store), ONLINE_CATEGORY, 'v1', this.categories[0].reference);
    const testDir = path.join(screwDir(), 'test');
    const tests = (await listImagesRecursive(testDir)).filter((_, i) => i % 8 === 0);
    this.onlineImages = await Promise.all(tests.slice(0, 8).map((f) => fs.readFile(f)));
    this.batchImages = await Promise.all(tests.map(async (f) => ({ name: path.relative(testDir, f), data: await fs.readFile(f) })));

    this.env = {
      REDIS_URL: this.redis.url,
      PADIM_QUEUE_PREFIX: `soak-${randomBytes(6).toString('hex')}`,
      PADIM_STORE: `s3://${this.bucket}`,
      S3_ENDPOINT: `http://127.0.0.1:${this.proxy.port}`,
      S3_ACCESS_KEY_ID: S3_KEYS.accessKeyId,
      S3_SECRET_ACCESS_KEY: S3_KEYS.secretAccessKey,
      API_KEYS: this.apiKey,
      API_PORT: String(await freePort()),
      PADIM_DATASET_ROOTS: this.scratch,
      PADIM_SCRATCH_DIR: path.join(this.scratch, 'reduce'),
      PADIM_THREADS: '1',
      PADIM_BACKBONE_SESSIONS: '1',
      // Killed workers' jobs are noticed within seconds; retries outlast the 20 s store outage.
      LOCK_DURATION_MS: '10000',
      STALLED_INTERVAL_MS: '5000',
      JOB_ATTEMPTS: '8',
      JOB_BACKOFF_MS: '1000',
      AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: '1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    this.baseUrl = `http://127.0.0.1:${this.env.API_PORT}`;
    this.api = await FleetProcess.startApi(this.env);
    await Promise.all((['extract,reduce', 'extract,reduce', 'score', 'score'] as WorkerRole[]).map((role) => this.startWorker(role)));
  }

  private async startWorker(role: WorkerRole): Promise<void> {
    const name = `${role === 'score' ? 'score' : 'extract'}-${++this.workersStarted}`;
    const metricsPort = await freePort();
    const process = await FleetProcess.startWorker(name, { ...this.env, WORKER_ROLES: role, WORKER_METRICS_PORT: String(metricsPort) });
    this.workers.push({ process, role, startedAt: Date.now(), killedBySoak: false, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` });
  }

  private async tearDown(): Promise<void> {
    if (this.opts.logsDir) {
      await fs.mkdir(this.opts.logsDir, { recursive: true });
      for (const p of [this.api, ...this.workers.map((w) => w.process)].filter((p) => p !== undefined)) {
        await fs.writeFile(path.join(this.opts.logsDir, `${p.name}.log`), `${p.output.join('\n')}\n`);
      }
      // Each worker's RSS samples (seconds of the load, MB, no job in flight), to tell a leak from the working set of the job in flight.
      const rss = Object.fromEntries(
        [...this.workerRss].map(([name, samples]) => [name, samples.map((s) => [(s.at - this.loadStart) / 1000, s.mb, s.idle ?? null])]),
      );
      await fs.writeFile(path.join(this.opts.logsDir, 'worker-rss.json'), JSON.stringify(rss));
    }
    await Promise.all([this.api, ...this.workers.map((w) => w.process)].filter((p) => p !== undefined).map((p) => p.kill('SIGKILL')));
    await this.proxy?.close();
    await this.redis?.stop();
    if (this.store) {
      const prefixes = await this.store.listPrefixes('').catch(() => [] as string[]);
      for (const prefix of prefixes) await this.store.deletePrefix(prefix).catch((e: Error) => log(`could not empty ${prefix}: ${e.message}`));
      await this.store.abortStaleWrites(0).catch(() => undefined);
      const client = new S3Client({ endpoint: S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true, credentials: S3_KEYS });
      await client.send(new DeleteBucketCommand({ Bucket: this.bucket })).catch((e: Error) => log(`could not delete ${this.bucket}: ${e.message}`));
      client.destroy();
    }
    rmSync(this.scratch, { recursive: true, force: true });
  }

  private get loading(): boolean {
    return Date.now() < this.loadEnd;
  }

  /**
   * The fault whose window (plus FAULT_GRACE_MS) overlaps a request sent at `from` and answered at `at`, if
   * any: a request sent during a store outage can fail well after it, once its retries are spent.
   */
  private faultDuring(from: number, at: number): FaultWindow | undefined {
    return this.faults.find((f) => at >= f.start && from <= f.end + FAULT_GRACE_MS);
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the API's JSON answer, read field by field by the caller
  private async request(method: string, route: string, body?: unknown): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.apiKey}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.baseUrl}${route}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    try {
      return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
    } catch {
      return { status: res.status, body: text };
    }
  }

  /**
   * The short form, run in CI, submits no new run or scoring while the store is cut: POST /v1/trainings
   * answers a store it cannot list with a 400, which a client rightly does not retry. The full soak
   * submits throughout and counts those as failed runs.
   */
  private async holdWhileStoreCut(): Promise<void> {
    while (this.opts.short && this.proxy.isCut) await sleep(500);
  }

  /** POSTs until the API accepts (202), retrying 5xx and network errors as a client would; 4xx is a bug. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the API's JSON answer, read field by field by the caller
  private async submit(route: string, body: unknown): Promise<any> {
    for (;;) {
      let status: string;
      try {
        const res = await this.request('POST', route, body);
        if (res.status === 202) return res.body;
        if (res.status < 500) throw new Error(`POST ${route} answered ${res.status}: ${JSON.stringify(res.body)}`);
        status = String(res.status);
      } catch (error) {
        if ((error as Error).message.startsWith('POST ')) throw error;
        status = 'network';
      }
      count(this.submitRetries, status);
      if (Date.now() > this.drainDeadline) throw new Error(`POST ${route}: no 202 before the deadline (last: ${status})`);
      await sleep(1000);
    }
  }

  /**
   * GETs `route` until `done` accepts its body or the drain deadline passes (then the last body, or null).
   * A 404 after the resource was seen ends the wait at once: the fleet lost its record (`lost`, with the
   * state last seen as `body`), which no wait mends.
   */
  private async pollUntilDone<T>(route: string, done: (body: T) => boolean): Promise<{ body: T | null; finished: boolean; lost: boolean }> {
    let last: T | null = null;
    while (Date.now() < this.drainDeadline) {
      try {
        const res = await this.request('GET', route);
        if (res.status === 200) {
          last = res.body as T;
          if (done(last)) return { body: last, finished: true, lost: false };
        } else if (res.status === 404 && last !== null) {
          return { body: last, finished: false, lost: true };
        }
      } catch {
        // the API or Redis is down for a moment: ask again
      }
      await sleep(1000);
    }
    return { body: last, finished: false, lost: false };
  }

  private async trainingLoop(index: number): Promise<void> {
    let turn = index;
    while (this.loading) {
      const category = this.categories[turn % this.categories.length];
      // One shard (fitted in its extract job) and two (partials merged by the reducer) alternate.
      const shards = 1 + ((Math.floor(turn / this.categories.length) + index) % 2);
      turn++;
      await this.trainOnce(category, shards).catch((error: Error) => {
        this.runFailures.push({ runId: 'not accepted', category: category.name, reason: error.message });
      });
      await sleep(2000);
    }
  }

  private async trainOnce(category: Category, shards: number): Promise<void> {
    await this.holdWhileStoreCut();
    this.runsSubmitted++;
    const { runId } = await this.submit('/v1/trainings', {
      category: category.name,
      dataset: `store:soak-data/${category.name}/`,
      backbone: 'resnet18',
      size: TRAIN_SIZE,
      shards,
    });
    const { body, finished, lost } = await this.pollUntilDone<TrainingStatus>(`/v1/trainings/${runId}`, (s) =>
      ['completed', 'failed', 'cancelled'].includes(s.state),
    );
    if (!finished || !body) {
      this.runsUnfinished++;
      this.runFailures.push({ runId, category: category.name, reason: unfinishedReason(body?.state, lost) });
      return;
    }
    if (body.state !== 'completed') {
      this.runFailures.push({
        runId,
        category: category.name,
        reason: `${body.state}: ${body.error ?? body.reduce.error ?? body.shards.find((s) => s.error)?.error ?? 'no reason given'}`,
      });
      return;
    }
    this.runsSucceeded++;
    const t = body.timings;
    log(
      `run ${runId} (${category.name}, ${shards} shard${shards > 1 ? 's' : ''}) completed in ${t.totalSeconds?.toFixed(1)} s (queued ${t.queuedSeconds?.toFixed(1)}, extract ${t.extractSeconds?.toFixed(1)}, reduce ${t.reduceSeconds?.toFixed(1)}; attempts ${body.shards.map((s) => s.attemptsMade).join('/')}, reduce ${body.reduce.attemptsMade})`,
    );
    const fleet = await loadRegistryModel(new ModelRegistry(this.store), category.name, body.version);
    const difference = Math.max(
      relativeDifference(fleet.tensors.mean, category.reference.tensors.mean),
      relativeDifference(fleet.tensors.invCholesky, category.reference.tensors.invCholesky),
    );
    this.modelsCompared++;
    this.maxModelDifference = Math.max(this.maxModelDifference, difference);
    if (difference < MODEL_TOLERANCE) this.modelsIdentical++;
    else log(`run ${runId} (${category.name}, ${shards} shards): model differs from the in-process one by ${difference}`);
    // Older versions go, so the bucket holds a few models rather than one per run.
    const res = await this.request('DELETE', `/v1/models/${category.name}/versions/${body.version}`).catch(() => ({ status: 0 }));
    if (res.status !== 200 && res.status !== 204 && res.status !== 409) log(`DELETE ${category.name}/${body.version} answered ${res.status}`);
  }

  private async onlineClient(index: number): Promise<void> {
    let turn = index;
    while (this.loading) {
      const image = this.onlineImages[turn++ % this.onlineImages.length];
      const form = new FormData();
      form.append('images', new Blob([image]), `client-${index}.png`);
      const started = performance.now();
      const sentAt = Date.now();
      let outcome: string;
      let detail = '';
      try {
        const res = await fetch(`${this.baseUrl}/v1/models/${ONLINE_CATEGORY}/score`, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.apiKey}` },
          body: form,
          signal: AbortSignal.timeout(120_000),
        });
        const text = await res.text();
        const body = JSON.parse(text || 'null') as { results?: ScoreRow[]; message?: string } | null;
        outcome = res.status !== 200 ? String(res.status) : body?.results?.[0]?.error === null ? 'ok' : 'result-error';
        detail = res.status !== 200 ? (body?.message ?? text) : (body?.results?.[0]?.error ?? '');
      } catch (error) {
        outcome = (error as Error).name === 'TimeoutError' ? 'timeout' : 'network';
        detail = (error as Error).message;
      }
      this.onlineRequests++;
      if (outcome === 'ok') this.latencies.push(performance.now() - started);
      else {
        count(this.onlineErrors, outcome);
        this.onlineErrorTimes.push({ from: sentAt, at: Date.now(), outcome });
        if (!(outcome in this.onlineErrorSamples)) {
          this.onlineErrorSamples[outcome] = String(detail).slice(0, 300);
          log(`online ${outcome}: ${this.onlineErrorSamples[outcome]}`);
        }
      }
      await sleep(ONLINE_THINK_MS);
    }
  }

  private async batchLoop(): Promise<void> {
    let turn = 0;
    while (this.loading) {
      await this.scoreBatch(turn++).catch((error: Error) => {
        this.batchScoringsFailed.push({ scoringId: 'none', reason: error.message });
      });
      await sleep(3000);
    }
  }

  /** One archive of good images and corrupt entries, scored in chunks; every entry must come back once. */
  private async scoreBatch(turn: number): Promise<void> {
    const entries = new Map<string, Buffer>();
    for (let i = 0; i < 8; i++) {
      const image = this.batchImages[(turn * 8 + i) % this.batchImages.length];
      entries.set(image.name, image.data);
    }
    const corrupt = new Map<string, Buffer>([
      ['corrupt/truncated.png', this.batchImages[turn % this.batchImages.length].data.subarray(0, 300)],
      ['corrupt/garbage.png', randomBytes(2000)],
      ['corrupt/empty.png', Buffer.alloc(0)],
      ['corrupt/notes.txt', Buffer.from('not an image')],
    ]);
    for (const [name, data] of corrupt) entries.set(name, data);
    const archiveName = `batch-${turn}.${turn % 2 === 0 ? 'zip' : 'tar.gz'}`;
    const file = path.join(this.scratch, archiveName);
    await writeArchive(file, entries);
    await this.store.put(`soak-input/${archiveName}`, await fs.readFile(file));
    await fs.rm(file);

    await this.holdWhileStoreCut();
    const { scoringId } = await this.submit('/v1/scorings', { category: ONLINE_CATEGORY, input: `store:soak-input/${archiveName}`, chunkSize: 3 });
    this.batchScorings++;
    this.batchRowsExpected += entries.size;
    const { body, finished, lost } = await this.pollUntilDone<ScoringStatus>(
      `/v1/scorings/${scoringId}`,
      (s) => s.state === 'completed' || s.state === 'failed',
    );
    log(`scoring ${scoringId} (${archiveName}) ${body?.state ?? 'unknown'}`);
    if (!finished || body?.state !== 'completed' || !body.outputs) {
      if (!finished) await this.logScoringJobs(scoringId);
      this.batchScoringsFailed.push({
        scoringId,
        reason: finished ? `failed: ${body?.error ?? 'no reason given'}` : unfinishedReason(body?.state, lost),
      });
      this.lostRows += entries.size;
      return;
    }
    const text = (await this.store.get(body.outputs.resultsJsonl)).toString('utf8');
    const rows = text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as ScoreRow);
    this.batchRows += rows.length;
    const entryOf = (row: ScoreRow) => [...entries.keys()].find((e) => row.file === e || row.file.endsWith(`/${e}`));
    const seen = new Map<string, number>();
    for (const row of rows) {
      const entry = entryOf(row);
      if (entry === undefined) {
        log(`scoring ${scoringId}: a row for no entry of ${archiveName}: ${row.file}`);
        this.wrongRows++;
        continue;
      }
      seen.set(entry, (seen.get(entry) ?? 0) + 1);
      if (corrupt.has(entry) !== (row.error !== null)) {
        log(`scoring ${scoringId}: ${entry} has ${row.error === null ? 'a score' : `the error ${row.error}`}`);
        this.wrongRows++;
      }
    }
    for (const entry of entries.keys()) {
      const n = seen.get(entry) ?? 0;
      if (n === 0) {
        this.lostRows++;
        log(`scoring ${scoringId}: no row for ${entry}`);
      }
      if (n > 1) {
        this.duplicateRows += n - 1;
        log(`scoring ${scoringId}: ${n} rows for ${entry}`);
      }
    }
  }

  /** Logs the state of each job of a scoring's flow, to explain one that did not finish. */
  private async logScoringJobs(scoringId: string): Promise<void> {
    const queue = new Queue(QueueName.Score, { connection: { url: this.redis.url, maxRetriesPerRequest: 1 }, prefix: this.env.PADIM_QUEUE_PREFIX });
    try {
      const assembleId = assembleScoring.jobId({ scoringId });
      const ids = [prepareScoring.jobId({ scoringId }), assembleId];
      for (let chunk = 0; chunk < 8; chunk++) ids.push(scoreChunk.jobId({ scoringId, chunk }));
      for (const id of ids) {
        const job = await queue.getJob(id);
        if (!job) continue;
        const dependencies = id === assembleId ? await job.getDependenciesCount() : undefined;
        log(
          `scoring ${scoringId}: job ${id} ${await job.getState()}, attempts ${job.attemptsMade}/${job.attemptsStarted}, stalled ${job.stalledCounter}, delay ${job.delay}, failed ${job.failedReason ?? '-'}${dependencies ? `, dependencies ${JSON.stringify(dependencies)}` : ''}`,
        );
      }
    } catch (error) {
      log(`scoring ${scoringId}: jobs not readable: ${(error as Error).message}`);
    } finally {
      await queue.close();
    }
  }

  /** Until the load ends: every 30-60 s, SIGKILL a random worker and start another of its role. */
  private async killLoop(): Promise<void> {
    for (let kill = 0; ; kill++) {
      // The short form's one kill comes at 30 s, before the store outage (see storeOutage).
      const wait = this.opts.short && kill === 0 ? 30_000 : 30_000 + Math.random() * 30_000;
      if (Date.now() + wait >= this.loadEnd) return;
      await sleep(wait);
      const live = this.workers.filter((w) => w.process.alive);
      const victim = live[Math.floor(Math.random() * live.length)];
      victim.killedBySoak = true;
      const at = Date.now();
      await victim.process.kill('SIGKILL');
      this.workerKills++;
      log(`SIGKILL ${victim.process.name}`);
      await this.startWorker(victim.role);
      this.faults.push({ kind: `kill ${victim.process.name}`, start: at, end: Date.now() });
    }
  }

  /**
   * At a quarter of the load; in the short form at 60 %, after its kill: a worker killed within a minute
   * after an outage takes the clean-ups it still retries with it (left to the sweep of old uploads),
   * which the full soak may hit and the short form, run in CI, keeps apart.
   */
  private async storeOutage(): Promise<void> {
    await sleep(this.opts.durationSeconds * 1000 * (this.opts.short ? 0.6 : 0.25));
    log(`store cut for ${STORE_OUTAGE_MS / 1000} s`);
    const start = Date.now();
    this.proxy.cut(STORE_OUTAGE_MS);
    this.storeOutages++;
    this.faults.push({ kind: 'store outage', start, end: start + STORE_OUTAGE_MS });
    await sleep(STORE_OUTAGE_MS);
    log('store back');
  }

  private async redisRestart(): Promise<void> {
    await sleep(this.opts.durationSeconds * 1000 * (this.opts.short ? 0.25 : 0.6));
    log('restarting redis');
    const start = Date.now();
    await this.redis.restart();
    this.redisRestarts++;
    this.faults.push({ kind: 'redis restart', start, end: Date.now() });
    log(`redis back after ${((Date.now() - start) / 1000).toFixed(1)} s`);
  }

  /**
   * radosgw is shared: asks it directly (not through the relay) every second, so that an outage the soak
   * did not cause is a fault window of its own, and the errors in it are put down to it.
   */
  private async probeStore(): Promise<void> {
    let outage: FaultWindow | undefined;
    while (this.loading) {
      const at = Date.now();
      const up = await fetch(S3_ENDPOINT, { signal: AbortSignal.timeout(3000) }).then(
        () => true,
        () => false,
      );
      if (!up && !outage) {
        outage = { kind: 'radosgw unreachable (not the soak)', start: at, end: Date.now() };
        this.faults.push(outage);
        log('radosgw itself does not answer');
      } else if (!up && outage) outage.end = Date.now();
      else if (up && outage) {
        log(`radosgw answers again after ${((Date.now() - outage.start) / 1000).toFixed(0)} s`);
        outage = undefined;
      }
      await sleep(1000);
    }
  }

  /**
   * Every 2 s: the mean RSS of the warm workers (up 20 s or more), each one's RSS with whether it had a
   * job in flight, and processes that died on their own.
   */
  private async sampleLoop(): Promise<void> {
    while (this.loading) {
      const now = Date.now();
      const values: number[] = [];
      for (const w of this.workers.filter((w) => w.process.alive && now - w.startedAt >= 20_000)) {
        const inFlight = await this.jobsInFlightOf(w);
        const mb = rssMB(w.process.child.pid);
        if (mb === null) continue;
        values.push(mb);
        const sample: RssSample = { at: now, mb, role: w.role, startedAt: w.startedAt, idle: inFlight === null ? undefined : inFlight === 0 };
        this.workerRss.set(w.process.name, [...(this.workerRss.get(w.process.name) ?? []), sample]);
      }
      if (values.length > 0) this.rssSamples.push({ at: now, meanMB: mean(values) });
      for (const w of this.workers) {
        if (!w.process.alive && !w.killedBySoak) {
          w.killedBySoak = true;
          this.unexpectedExits.push(`${w.process.name} exited with ${w.process.child.exitCode ?? w.process.child.signalCode}: ${w.process.tail(5)}`);
          await this.startWorker(w.role);
        }
      }
      if (!this.api.alive) throw new Error(`the API exited:\n${this.api.tail()}`);
      await sleep(2000);
    }
  }

  /** The jobs a worker has in flight, from its /metrics; null when it does not answer within a second. */
  private async jobsInFlightOf(w: Worker): Promise<number | null> {
    try {
      const response = await fetch(w.metricsUrl, { signal: AbortSignal.timeout(1000) });
      return response.ok ? jobsInFlight(await response.text()) : null;
    } catch {
      return null;
    }
  }

  /** Objects the finished work should not have left: anything under runs/ and uploads/, and a scoring's own bookkeeping. */
  private async leftovers(): Promise<{ orphans: string[]; incompleteVersions: number }> {
    const outputs = Object.values(SCORING_OUTPUTS) as string[];
    const orphans: string[] = [];
    const versions = new Map<string, boolean>();
    for await (const { key, lastModified } of this.store.list('')) {
      const parts = key.split('/');
      // When it was written, in seconds of the load, to match it with a fault.
      const described = `${key} (written at ${lastModified ? ((lastModified.getTime() - this.loadStart) / 1000).toFixed(0) : '?'} s)`;
      if (key.startsWith(STORE_ROOTS.runs) || key.startsWith(STORE_ROOTS.uploads)) orphans.push(described);
      else if (key.startsWith(STORE_ROOTS.scorings) && !outputs.some((o) => parts.slice(2).join('/').startsWith(o))) orphans.push(described);
      else if (key.startsWith(STORE_ROOTS.models) && parts.length === 4) {
        const version = parts.slice(0, 3).join('/');
        versions.set(version, (versions.get(version) ?? false) || parts[3] === MANIFEST_FILE);
      }
    }
    return { orphans, incompleteVersions: [...versions.values()].filter((complete) => !complete).length };
  }

  private onlineErrorsByFault(): Record<string, Record<string, number>> {
    const byFault: Record<string, Record<string, number>> = {};
    for (const e of this.onlineErrorTimes) {
      const fault = this.faultDuring(e.from, e.at)?.kind ?? 'none';
      count((byFault[fault] ??= {}), e.outcome);
    }
    return byFault;
  }

  private async summarise(): Promise<SoakSummary> {
    // The last clean-ups run right after a job completes, and those the store outage held up retry a
    // while after it: give them that long.
    const outageEnd = Math.max(0, ...this.faults.filter((f) => f.kind === 'store outage').map((f) => f.end));
    await sleep(Math.max(5000, outageEnd + CLEAN_UP_RETRY_MS - Date.now()));
    const { orphans, incompleteVersions } = await this.leftovers();
    const inQuarter = (q: number, at: number) => {
      const length = this.loadEnd - this.loadStart;
      return at >= this.loadStart + ((q - 1) * length) / 4 && at < this.loadStart + (q * length) / 4;
    };
    const quarter = (q: number) => mean(this.rssSamples.filter((s) => inQuarter(q, s.at)).map((s) => s.meanMB));
    const resting = (q: number) => restingRssMB([...this.workerRss.values()].flat(), (at) => inQuarter(q, at));
    // Workers up through both quarters: the growth of each one's own RSS, which replacements starting cold do not hide.
    const survivorGrowth: number[] = [];
    for (const [name, samples] of this.workerRss) {
      const q2 = mean(samples.filter((x) => inQuarter(2, x.at)).map((x) => x.mb));
      const q4 = mean(samples.filter((x) => inQuarter(4, x.at)).map((x) => x.mb));
      log(
        `${name}: RSS ${samples[0].mb.toFixed(0)} MB at ${((samples[0].at - this.loadStart) / 1000).toFixed(0)} s, ${samples[samples.length - 1].mb.toFixed(0)} MB at ${((samples[samples.length - 1].at - this.loadStart) / 1000).toFixed(0)} s; Q2 ${q2.toFixed(0)}, Q4 ${q4.toFixed(0)}`,
      );
      if (Number.isFinite(q2) && Number.isFinite(q4)) survivorGrowth.push(q4 / q2 - 1);
    }
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const q2 = resting(2);
    const q4 = resting(4);
    const summary: SoakSummary = {
      durationSeconds: this.opts.durationSeconds,
      short: this.opts.short,
      runsSubmitted: this.runsSubmitted,
      runsSucceeded: this.runsSucceeded,
      runsFailed: this.runFailures.length,
      runFailures: this.runFailures,
      runsUnfinished: this.runsUnfinished,
      modelsCompared: this.modelsCompared,
      modelsIdenticalToInProcess: this.modelsIdentical,
      maxModelDifference: this.maxModelDifference,
      submitRetries: this.submitRetries,
      onlineRequests: this.onlineRequests,
      onlineErrors: this.onlineErrors,
      onlineErrorsOutsideFaults: this.onlineErrorTimes.filter((e) => !this.faultDuring(e.from, e.at)).length,
      onlineErrorsByFault: this.onlineErrorsByFault(),
      onlineErrorSamples: this.onlineErrorSamples,
      p50Ms: round(percentile(sorted, 50), 1),
      p95Ms: round(percentile(sorted, 95), 1),
      p99Ms: round(percentile(sorted, 99), 1),
      batchScorings: this.batchScorings,
      batchScoringsFailed: this.batchScoringsFailed,
      batchRows: this.batchRows,
      batchRowsExpected: this.batchRowsExpected,
      duplicateRows: this.duplicateRows,
      lostRows: this.lostRows,
      wrongRows: this.wrongRows,
      orphanObjects: orphans.length,
      orphanExamples: orphans.slice(0, 10),
      incompleteVersions,
      workerKills: this.workerKills,
      unexpectedExits: this.unexpectedExits,
      storeOutages: this.storeOutages,
      redisRestarts: this.redisRestarts,
      workerRssStartMB: round(this.rssSamples[0]?.meanMB ?? NaN, 1),
      workerRssEndMB: round(this.rssSamples[this.rssSamples.length - 1]?.meanMB ?? NaN, 1),
      workerRssQ2MB: round(q2, 1),
      workerRssQ4MB: round(q4, 1),
      workerRssGrowth: round(q4 / q2 - 1),
      workerRssMeanGrowth: round(quarter(4) / quarter(2) - 1),
      survivingWorkers: survivorGrowth.length,
      survivingWorkerRssGrowth: survivorGrowth.length > 0 ? round(Math.max(...survivorGrowth)) : null,
      failedTargets: [],
    };
    summary.failedTargets = missedTargets(summary);
    return summary;
  }
}

/** The targets a soak must meet, as the names of those it missed. */
export function missedTargets(s: SoakSummary): string[] {
  const missed: string[] = [];
  if (s.runsSubmitted === 0 || s.runsSucceeded !== s.runsSubmitted) missed.push('every run succeeds');
  if (s.modelsIdenticalToInProcess !== s.modelsCompared) missed.push('every model equals the in-process one');
  if (s.batchScorings === 0 || s.batchRows !== s.batchRowsExpected) missed.push('one row per archive entry');
  if (s.lostRows !== 0) missed.push('0 lost rows');
  if (s.duplicateRows !== 0) missed.push('0 duplicated rows');
  if (s.wrongRows !== 0) missed.push('0 wrong rows');
  if (s.orphanObjects !== 0) missed.push('0 orphan objects');
  if (s.incompleteVersions !== 0) missed.push('0 incomplete versions');
  if (s.unexpectedExits.length !== 0) missed.push('no process exits on its own');
  if (s.onlineRequests === 0 || s.onlineErrorsOutsideFaults !== 0) missed.push('no online errors outside the faults');
  // Quarters of a short soak are too short for a steady state: a worker's first jobs open its backbone
  // sessions, models and finalisation threads (100 to 400 MB within its first minute). The resting level
  // per role is the measure (see summarise): one worker's RSS swings by 100 MB with the job it is in.
  if (s.durationSeconds >= RSS_CHECK_MIN_SECONDS && !(s.workerRssGrowth <= 0.1))
    missed.push('worker RSS grows 10 % at most from the second quarter to the last');
  return missed;
}

const SOAK_COMMAND = {
  name: 'soak',
  summary: 'the fleet under training, online and batch load while workers are killed, the store is cut and Redis restarts',
  synopsis: '[--duration <s>] [--short] [--logs <dir>]',
  description:
    'Starts a private Redis, a relay in front of radosgw, the API and 4 workers, loads them with faults, and prints the figures; the last line is JSON.',
  options: {
    duration: { type: 'string', value: 's', description: 'seconds of load, 30 to 360 (default 300, 60 with --short)' },
    short: { type: 'boolean', description: 'the short form that CI runs' },
    logs: { type: 'string', value: 'dir', description: "keep each process's output, one file per process" },
  },
  example: 'npm run soak -- --short',
} as const satisfies CommandSpec;

async function main(): Promise<void> {
  const { values } = parseCommand(process.argv.slice(2), SOAK_COMMAND);
  const short = values.short === true;
  const durationSeconds = intOption(values.duration, 'duration', 30) ?? (short ? 60 : 300);
  if (durationSeconds > 360) throw new UsageError('--duration must be at most 360 (with set-up and draining, the soak stays within 10 minutes)');
  const summary = await new Soak({ durationSeconds, short, logsDir: values.logs }).run();
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (summary.failedTargets.length > 0) process.exitCode = 1;
}

main().catch((error: Error) => {
  if (error instanceof HelpRequested) {
    process.stdout.write(error.text);
    return;
  }
  process.stderr.write(`soak: ${error instanceof UsageError ? error.message : (error.stack ?? error.message)}\n`);
  process.exit(error instanceof UsageError ? 2 : 1);
});
