import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { relaunchWithMallocHugePages, splitS3Location } from '@padim-fleet/contracts';
import { EmbeddingExtractor, findRepoRoot, imageBatches, resolveTrainingFiles } from '@padim-fleet/inference';

/**
 * Runs a bench's entry in a process set up as `padim` and the worker set up theirs: relaunched with huge
 * pages for malloc where that helps (relaunchWithMallocHugePages), so its figures are the product's.
 * Children the bench starts inherit the setting. A failure prints its stack under the bench's name.
 */
export function runBench(name: string, entry: () => Promise<void>): void {
  relaunchWithMallocHugePages()
    .then((code) => (code === null ? entry() : process.exit(code)))
    .catch((e) => {
      process.stderr.write(`${name}: ${(e as Error).stack}\n`);
      process.exit(1);
    });
}

export function screwDir(): string {
  const shared = process.env.PADIM_SHARED_DIR ?? path.resolve(findRepoRoot() ?? process.cwd(), '../shared');
  return path.join(shared, 'datasets', 'mvtec-ad', 'screw');
}

export async function screwTrainFiles(): Promise<string[]> {
  return (await resolveTrainingFiles(screwDir())).files;
}

/** Images per second of a timed step and the CPU time (all threads of this process) it took per image. */
export interface StepRate {
  imagesPerSec: number;
  cpuMsPerImage: number;
  /** The process's minor page faults (first touches of fresh memory, all threads) per image. */
  pageFaultsPerImage: number;
}

/** Runs `step`, which handles `images` images, and measures its wall and CPU time and page faults. */
export async function measureStep(images: () => number, step: () => Promise<unknown>): Promise<StepRate> {
  const cpu0 = process.cpuUsage();
  const faults0 = process.resourceUsage().minorPageFault;
  const started = process.hrtime.bigint();
  await step();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const faults = process.resourceUsage().minorPageFault - faults0;
  return { imagesPerSec: images() / seconds, cpuMsPerImage: (cpu.user + cpu.system) / 1000 / images(), pageFaultsPerImage: faults / images() };
}

/**
 * Backbone + embedding head alone, on batches decoded beforehand: the floor every pipeline is measured
 * against. Its CPU per image against a pipeline's gives the ratio that pipeline could reach if it kept
 * every core busy: on a machine the backbone already fills, only less work moves the ratio.
 */
export async function backboneRate(extractor: EmbeddingExtractor, files: string[], batchSize: number, size: number): Promise<StepRate> {
  const batches: { tensor: Float32Array; n: number }[] = [];
  for await (const b of imageBatches(
    files.map((file) => ({ file })),
    { size, normalization: extractor.backbone.spec.normalization, batchSize },
  )) {
    batches.push({ tensor: b.tensor.slice(), n: b.n });
  }
  // Warm-up, then one batch in flight per backbone session, as the pipelines keep them.
  await Promise.all(Array.from({ length: extractor.lanes }, () => extractor.run(batches[0].tensor, batches[0].n)));
  let images = 0;
  let next = 0;
  const lane = async () => {
    while (next < batches.length) {
      const b = batches[next++];
      await extractor.run(b.tensor, b.n);
      images += b.n;
    }
  };
  return measureStep(
    () => images,
    () => Promise.all(Array.from({ length: extractor.lanes }, lane)),
  );
}

/** Runs this script again in a child process with `args` and returns the JSON it prints last. */
export function runChild(script: string, args: string[]): Record<string, number> {
  const out = execFileSync(process.execPath, [script, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

/**
 * This process's peak resident set, in MB (2²⁰ bytes). On Linux from /proc/self/status (VmHWM, the
 * high-water mark of this program's own memory): getrusage's maxRSS carries over the RSS of the parent
 * at fork, so a child started by runChild from a bench holding gigabytes would report the parent's.
 */
export function peakRssMB(): number {
  try {
    const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (hwm) return Number(hwm[1]) / 1024;
  } catch {
    // Not Linux: getrusage below.
  }
  return process.resourceUsage().maxRSS / 1024;
}

export function round(x: number, digits = 3): number {
  return Number(x.toFixed(digits));
}

export { freePort } from '../fleet/fleet-process';

export const API_KEY = 'bench-fleet-Tn5vQ9xL2wR7mC4kZ8bJ';
export const S3_ENDPOINT = process.env.S3_ENDPOINT ?? 'http://127.0.0.1:7480';
export const S3_KEYS = {
  accessKeyId: process.env.S3_ACCESS_KEY_ID ?? 'padim-test-access',
  secretAccessKey: process.env.S3_SECRET_ACCESS_KEY ?? 'padim-test-secret-key-0123456789',
};

/** A fresh bucket on radosgw when it answers at S3_ENDPOINT, else the local folder `fallback`. */
export async function benchStoreSpec(fallback: string): Promise<{ spec: string; useS3: boolean }> {
  try {
    await fetch(S3_ENDPOINT, { signal: AbortSignal.timeout(2000) });
  } catch {
    return { spec: fallback, useS3: false };
  }
  const bucket = `bench-${randomUUID()}`;
  const client = new S3Client({ endpoint: S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true, credentials: S3_KEYS });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return { spec: `s3://${bucket}`, useS3: true };
}

/** The environment fleet processes need to reach `storeSpec` (and radosgw's test keys); the bench's inputs are in the store's bucket. */
export function fleetEnv(storeSpec: string, extra: Record<string, string>): Record<string, string> {
  const storeBucket = splitS3Location(storeSpec)?.bucket;
  return {
    PADIM_STORE: storeSpec,
    ...(storeBucket ? { PADIM_S3_INPUT_BUCKETS: storeBucket } : {}),
    S3_ENDPOINT,
    S3_ACCESS_KEY_ID: S3_KEYS.accessKeyId,
    S3_SECRET_ACCESS_KEY: S3_KEYS.secretAccessKey,
    API_KEYS: API_KEY,
    AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: '1',
    PADIM_QUEUE_PREFIX: `bench-${randomUUID()}`,
    ...extra,
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** CPU seconds (user + system) used so far by a process, from /proc; null where there is no /proc. */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime, in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** Processes whose command name is one of `names` (e.g. the store's radosgw and ceph-osd), from /proc. */
export function pidsNamed(names: string[]): number[] {
  try {
    return readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          return names.includes(readFileSync(`/proc/${d}/comm`, 'utf8').trim());
        } catch {
          return false;
        }
      })
      .map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds used by groups of processes between `start()` and the call it returns. */
export function cpuMeter(groups: Record<string, number[]>): () => Record<string, number | null> {
  const total = (pids: number[]) => {
    const values = pids.map(processCpuSeconds);
    return values.length > 0 && values.every((v) => v !== null) ? (values as number[]).reduce((a, b) => a + b, 0) : null;
  };
  const before = Object.fromEntries(Object.entries(groups).map(([k, pids]) => [k, total(pids)]));
  return () =>
    Object.fromEntries(
      Object.entries(groups).map(([k, pids]) => {
        const now = total(pids);
        return [k, now === null || before[k] === null ? null : now - before[k]!];
      }),
    );
}
