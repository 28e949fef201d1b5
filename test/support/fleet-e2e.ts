import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelRegistry, S3BlobStore } from '@padim-fleet/storage';
import { FleetProcess, freePort } from './fleet-processes';
import { createTestBucket, removeTestBucket, s3TestSettings, testName } from './services';

/** What an end-to-end test of the fleet's processes runs against: its own bucket, scratch folder and API port. */
export interface FleetE2e {
  bucket: string;
  store: S3BlobStore;
  registry: ModelRegistry;
  scratch: string;
  port: number;
  /** The environment of the API and worker processes: `extra` over the settings every such test shares. */
  env: Record<string, string>;
}

/**
 * A fresh radosgw bucket, a scratch folder, a free port, and the fleet processes' environment: the
 * test keys, the bucket as the one s3:// inputs may name, a queue prefix of its own, one onnxruntime
 * thread per process and stalled jobs noticed within seconds (the tests kill workers).
 */
export async function setUpFleetE2e(opts: {
  redisUrl: string;
  apiKey: string;
  scratchPrefix: string;
  extra: (scratch: string) => Record<string, string>;
}): Promise<FleetE2e> {
  const bucket = await createTestBucket();
  const s3 = s3TestSettings();
  const store = new S3BlobStore({ ...s3, bucket });
  const scratch = mkdtempSync(path.join(os.tmpdir(), opts.scratchPrefix));
  const port = await freePort();
  const env = {
    REDIS_URL: opts.redisUrl,
    PADIM_QUEUE_PREFIX: testName(),
    PADIM_STORE: `s3://${bucket}`,
    // The tests put their s3:// inputs in their own bucket.
    PADIM_S3_INPUT_BUCKETS: bucket,
    S3_ENDPOINT: s3.endpoint,
    S3_ACCESS_KEY_ID: s3.accessKeyId!,
    S3_SECRET_ACCESS_KEY: s3.secretAccessKey!,
    API_KEYS: opts.apiKey,
    API_PORT: String(port),
    PADIM_THREADS: '1',
    LOCK_DURATION_MS: '4000',
    STALLED_INTERVAL_MS: '2000',
    AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE: '1',
    ...opts.extra(scratch),
  };
  return { bucket, store, registry: new ModelRegistry(store), scratch, port, env };
}

/** Stops the processes, then removes the bucket and the scratch folder (whatever of them exists). */
export async function tearDownFleetE2e(setup: FleetE2e | undefined, processes: (FleetProcess | undefined)[]): Promise<void> {
  await Promise.all(processes.filter((p): p is FleetProcess => p !== undefined).map((p) => p.kill('SIGTERM')));
  if (!setup) return;
  await removeTestBucket(setup.bucket);
  rmSync(setup.scratch, { recursive: true, force: true });
}
