/**
 * The API only plans and queues: its process must not load the inference stack (onnxruntime-node, and
 * sharp with its libvips), which costs memory on every API replica and ties it to native addons it
 * never calls. What a process has loaded is what it has mapped: /proc/<pid>/maps lists every shared
 * object, `.node` addons included.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FleetApiClient } from '../support/fleet-api';
import { FleetProcess, freePort } from '../support/fleet-processes';
import { PrivateRedis } from '../support/private-redis';
import { testName } from '../support/services';

const API_KEY = 'e2e-api-modules-Qw3rT8yU2iO5pA9sD4fG';

/** The files a process has mapped (shared objects, addons), from /proc/<pid>/maps. */
function mappedFiles(pid: number): string[] {
  const files = new Set<string>();
  for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const file = line.trim().split(/\s+/).slice(5).join(' ');
    if (file.startsWith('/')) files.add(file);
  }
  return [...files].sort();
}

const describeOnLinux = process.platform === 'linux' ? describe : describe.skip;

describeOnLinux('the API process', () => {
  let scratch: string;
  let redis: PrivateRedis;
  let api: FleetProcess;
  let client: FleetApiClient;

  beforeAll(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'padim-api-modules-'));
    const dataset = path.join(scratch, 'datasets', 'line');
    mkdirSync(dataset, { recursive: true });
    // Planning lists images by name and never decodes them.
    for (let i = 0; i < 4; i++) writeFileSync(path.join(dataset, `${i}.png`), Buffer.from(`not decoded ${i}`));
    redis = await PrivateRedis.start();
    const port = await freePort();
    api = await FleetProcess.startApi({
      REDIS_URL: redis.url,
      PADIM_QUEUE_PREFIX: testName(),
      PADIM_STORE: path.join(scratch, 'store'),
      PADIM_DATASET_ROOTS: path.join(scratch, 'datasets'),
      API_KEYS: API_KEY,
      API_PORT: String(port),
    });
    client = new FleetApiClient(`http://127.0.0.1:${port}`, API_KEY);
  }, 120_000);

  afterAll(async () => {
    await api?.kill('SIGKILL');
    await redis?.kill();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('plans a training, lists models and runs, and has loaded neither onnxruntime nor sharp', async () => {
    expect((await client.request('GET', '/v1/health')).status).toBe(200);
    await client.train({ category: 'line', dataset: path.join(scratch, 'datasets', 'line'), holdout: 0 });
    expect((await client.request('GET', '/v1/trainings')).status).toBe(200);
    expect((await client.request('GET', '/v1/models')).status).toBe(200);

    const files = mappedFiles(api.child.pid!);
    // The check reads something: node itself is mapped.
    expect(files.some((file) => file === process.execPath || path.basename(file).startsWith('node'))).toBe(true);
    expect(files.filter((file) => /onnxruntime|sharp|vips/i.test(file))).toEqual([]);
  }, 60_000);
});
