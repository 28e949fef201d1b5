/**
 * Test access to the real services (S3 via radosgw, Redis). Where a service is missing the tests that
 * need it are skipped with a printed reason, except in CI (CI=true), where a skipped check would hide
 * a broken set-up, so they fail with the command that starts it.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as net from 'node:net';
import { describe, it } from '@jest/globals';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { S3BlobStore, type S3BlobStoreOptions, type S3Settings } from '@padim-fleet/storage';

// The SDK warns once per process that its 2027 releases need Node 22: noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const S3_TEST_ACCESS_KEY = 'padim-test-access';
export const S3_TEST_SECRET_KEY = 'padim-test-secret-key-0123456789';

export function s3TestSettings(): S3Settings & { endpoint: string } {
  return {
    endpoint: process.env.S3_ENDPOINT || 'http://127.0.0.1:7480',
    region: 'us-east-1',
    accessKeyId: process.env.S3_ACCESS_KEY_ID || S3_TEST_ACCESS_KEY,
    secretAccessKey: process.env.S3_SECRET_ACCESS_KEY || S3_TEST_SECRET_KEY,
    forcePathStyle: true,
  };
}

export function redisTestUrl(): string {
  return process.env.REDIS_URL || 'redis://127.0.0.1:6379';
}

interface Service {
  name: string;
  address: string;
  starter: string;
}

function s3Service(): Service {
  return { name: 'S3 (radosgw)', address: s3TestSettings().endpoint, starter: 'infra/radosgw.sh start' };
}

function redisService(): Service {
  return { name: 'Redis', address: redisTestUrl(), starter: 'infra/redis.sh start' };
}

function missingReason(service: Service, problem: string): string {
  return `${service.name} is not reachable at ${service.address} (${problem}); start it with ${service.starter}`;
}

function hostPort(url: string, defaultPort: number): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : defaultPort };
}

/**
 * One request/response over TCP: resolves with the first bytes the server answers, rejects on
 * connection errors and after timeoutMs.
 */
function exchange(host: string, port: number, request: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => socket.write(request));
    socket.once('data', (data) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(data.toString('latin1'));
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** null when the S3 endpoint answers HTTP, else the problem. */
export async function probeS3(timeoutMs = 3000): Promise<string | null> {
  const { endpoint } = s3TestSettings();
  const { host, port } = hostPort(endpoint, endpoint.startsWith('https:') ? 443 : 80);
  try {
    const answer = await exchange(host, port, `GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nConnection: close\r\n\r\n`, timeoutMs);
    return answer.startsWith('HTTP/') ? null : `unexpected answer ${JSON.stringify(answer.slice(0, 40))}`;
  } catch (err) {
    return (err as Error).message;
  }
}

/** null when Redis answers PING, else the problem. */
export async function probeRedis(timeoutMs = 3000): Promise<string | null> {
  const { host, port } = hostPort(redisTestUrl(), 6379);
  try {
    const answer = await exchange(host, port, 'PING\r\n', timeoutMs);
    // "-NOAUTH" still proves a Redis server is there; the client will authenticate.
    return answer.startsWith('+PONG') || answer.startsWith('-NOAUTH') ? null : `unexpected answer ${JSON.stringify(answer.slice(0, 40))}`;
  } catch (err) {
    return (err as Error).message;
  }
}

async function requireService(service: Service, probe: () => Promise<string | null>): Promise<boolean> {
  const problem = await probe();
  if (problem === null) return true;
  const reason = missingReason(service, problem);
  if (process.env.CI === 'true') throw new Error(reason);
  console.warn(`skipping: ${reason}`);
  return false;
}

/** true when S3 answers; false (with a warning) when it does not; throws in CI. */
export function requireS3(): Promise<boolean> {
  return requireService(s3Service(), () => probeS3());
}

/** true when Redis answers; false (with a warning) when it does not; throws in CI. */
export function requireRedis(): Promise<boolean> {
  return requireService(redisService(), () => probeRedis());
}

/**
 * Jest collects describe blocks synchronously, so the describe helpers probe in a child process
 * (the same probe functions, run through a tiny script) and decide before the block is declared.
 */
function probeSync(kind: 's3' | 'redis'): string | null {
  const settings = kind === 's3' ? s3TestSettings().endpoint : redisTestUrl();
  const script = `
    const net = require('node:net');
    const u = new URL(process.argv[1]);
    const kind = process.argv[2];
    const port = u.port ? Number(u.port) : kind === 'redis' ? 6379 : u.protocol === 'https:' ? 443 : 80;
    const host = u.hostname.replace(/^\\[|\\]$/g, '');
    const s = net.connect({ host, port });
    const done = (msg) => { process.stdout.write(msg); s.destroy(); process.exit(0); };
    setTimeout(() => done('no answer within 3000 ms'), 3000);
    s.once('connect', () => s.write(kind === 'redis' ? 'PING\\r\\n' : 'GET / HTTP/1.1\\r\\nHost: ' + host + '\\r\\nConnection: close\\r\\n\\r\\n'));
    s.once('data', (d) => {
      const a = d.toString('latin1');
      const ok = kind === 'redis' ? a.startsWith('+PONG') || a.startsWith('-NOAUTH') : a.startsWith('HTTP/');
      done(ok ? '' : 'unexpected answer ' + JSON.stringify(a.slice(0, 40)));
    });
    s.once('error', (e) => done(e.message));
  `;
  const result = spawnSync(process.execPath, ['-e', script, settings, kind], { encoding: 'utf8', timeout: 10_000 });
  if (result.error) return `probe failed: ${result.error.message}`;
  const out = result.stdout.trim();
  return out === '' && result.status === 0 ? null : out || `probe exited with ${result.status}`;
}

function describeWithService(service: Service, kind: 's3' | 'redis', name: string, fn: () => void): void {
  const problem = probeSync(kind);
  if (problem === null) {
    describe(name, fn);
    return;
  }
  const reason = missingReason(service, problem);
  if (process.env.CI === 'true') {
    describe(name, () => {
      it(`has ${service.name}`, () => {
        throw new Error(reason);
      });
    });
    return;
  }
  console.warn(`skipping "${name}": ${reason}`);
  describe.skip(name, fn);
}

/** A describe block that needs S3: skipped with a printed reason when it is missing, failing in CI. */
export function describeWithS3(name: string, fn: () => void): void {
  describeWithService(s3Service(), 's3', name, fn);
}

/** A describe block that needs Redis: skipped with a printed reason when it is missing, failing in CI. */
export function describeWithRedis(name: string, fn: () => void): void {
  describeWithService(redisService(), 'redis', name, fn);
}

/** A fresh name for a test bucket or prefix. */
export function testName(): string {
  return `test-${randomUUID()}`;
}

export function s3TestClient(): S3Client {
  const s = s3TestSettings();
  return new S3Client({
    endpoint: s.endpoint,
    region: s.region,
    forcePathStyle: s.forcePathStyle,
    credentials: { accessKeyId: s.accessKeyId ?? S3_TEST_ACCESS_KEY, secretAccessKey: s.secretAccessKey ?? S3_TEST_SECRET_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Creates a bucket named test-<uuid> and returns its name. */
export async function createTestBucket(): Promise<string> {
  const bucket = testName();
  const client = s3TestClient();
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
  return bucket;
}

/** Empties a test bucket (objects and unfinished multipart uploads) and deletes it. */
export async function removeTestBucket(bucket: string): Promise<void> {
  const client = s3TestClient();
  try {
    for (;;) {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1000 }));
      const keys = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ Key: o.Key }]));
      if (keys.length === 0) break;
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
    }
    const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    for (const u of uploads.Uploads ?? []) {
      await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
    }
    await client.send(new DeleteBucketCommand({ Bucket: bucket }));
  } finally {
    client.destroy();
  }
}

/** An S3BlobStore on the test server, below a fresh test-<uuid> prefix of bucket. */
export function s3TestStore(bucket: string, options: Partial<S3BlobStoreOptions> = {}): S3BlobStore {
  return new S3BlobStore({ ...s3TestSettings(), bucket, prefix: testName(), ...options });
}
