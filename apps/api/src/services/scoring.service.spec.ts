import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { BadGatewayException, GatewayTimeoutException, NotFoundException } from '@nestjs/common';
import { ContractError, PrepareScoringJob, ScoreImagesJob, loadFleetConfig } from '@padim-fleet/contracts';
import { ScoreTimeoutError, ScoringRuns, publishModel } from '@padim-fleet/fleet';
import { LocalBlobStore, ModelRegistry, StoreUnavailableError, onlineOutputPrefix, storeUnavailableForWaiter } from '@padim-fleet/storage';
import { tinyModel } from '../../../../test/support/tiny-model';
import { ScoringService, UploadedImage } from './scoring.service';

/** Stands in for the Redis-backed runs: keeps what was queued; an online request answers with `answer`. */
class FakeScoringRuns {
  submitted: PrepareScoringJob[] = [];
  scored: { job: ScoreImagesJob; uploads: string[] }[] = [];
  answer: (job: ScoreImagesJob) => Promise<unknown> = async () => ({ results: [] });
  constructor(private readonly store: LocalBlobStore) {}
  async submit(job: PrepareScoringJob) {
    this.submitted.push(job);
  }
  async scoreNow(job: ScoreImagesJob) {
    this.scored.push({ job, uploads: await keys(this.store, 'uploads/') });
    return this.answer(job);
  }
  async status() {
    return null;
  }
}

async function keys(store: LocalBlobStore, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const info of store.list(prefix)) found.push(info.key);
  return found.sort();
}

const image = (originalname: string): UploadedImage => ({ originalname, buffer: Buffer.from('png'), size: 3 });

let root: string;
let store: LocalBlobStore;
let registry: ModelRegistry;
let runs: FakeScoringRuns;
let service: ScoringService;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'scoring-service-'));
  store = new LocalBlobStore(root);
  registry = new ModelRegistry(store);
  runs = new FakeScoringRuns(store);
  service = new ScoringService(loadFleetConfig({}), store, registry, runs as unknown as ScoringRuns);
  await publishModel(registry, 'screw', 'v1', tinyModel());
  await publishModel(registry, 'screw', 'v2', tinyModel(), { makeCurrent: false });
});
afterEach(() => fs.rm(root, { recursive: true, force: true }));

describe('ScoringService.scoreOnline', () => {
  it('stores the images, scores them with the current version, and removes them after the answer', async () => {
    const answer = await service.scoreOnline('screw', [image('a.png'), image('b.png')], {});
    expect(answer).toEqual({ results: [] });
    const [{ job, uploads }] = runs.scored;
    expect(job).toMatchObject({ category: 'screw', version: 'v1', inline: false });
    expect(job.images.map((i) => i.name)).toEqual(['a.png', 'b.png']);
    expect(uploads).toEqual(job.images.map((i) => i.key));
    expect(await keys(store, 'uploads/')).toEqual([]);
  });

  it('scores with the version asked for, and answers 404 for one that does not exist', async () => {
    await service.scoreOnline('screw', [image('a.png')], { version: 'v2' });
    expect(runs.scored[0].job.version).toBe('v2');
    await expect(service.scoreOnline('screw', [image('a.png')], { version: 'v7' })).rejects.toThrow(new NotFoundException('model screw/v7 not found'));
    await expect(service.scoreOnline('bolt', [image('a.png')], {})).rejects.toThrow(/bolt/);
    expect(runs.scored).toHaveLength(1);
  });

  it('turns a timeout into a 504 and a worker failure into a 502, keeping neither uploads nor PNGs', async () => {
    runs.answer = async (job) => {
      await store.put(`${onlineOutputPrefix(job.requestId)}heatmaps/a.png`, 'png');
      throw new ScoreTimeoutError(50);
    };
    await expect(service.scoreOnline('screw', [image('a.png')], {})).rejects.toThrow(new GatewayTimeoutException('no score worker answered within 50 ms'));
    expect(await keys(store, '')).not.toContainEqual(expect.stringMatching(/^(uploads|scores)\//));
    runs.answer = async () => {
      throw new Error('decoder crashed');
    };
    await expect(service.scoreOnline('screw', [image('a.png')], {})).rejects.toThrow(new BadGatewayException('scoring failed: decoder crashed'));
    // A worker that could not reach the store is not a failed worker: the store's 503, to retry.
    runs.answer = async () => {
      throw new Error(storeUnavailableForWaiter(new StoreUnavailableError('S3 head "uploads/x/a.png" failed: socket hang up')).message);
    };
    await expect(service.scoreOnline('screw', [image('a.png')], {})).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await keys(store, 'uploads/')).toEqual([]);
  });

  it('rethrows Redis being unreachable as it is (a 503 to retry), not as a 502', async () => {
    const down = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
    runs.answer = async () => {
      throw down;
    };
    await expect(service.scoreOnline('screw', [image('a.png')], {})).rejects.toBe(down);
    expect(await keys(store, 'uploads/')).toEqual([]);
  });

  it('refuses a request without images, and a file name the contract refuses, naming the file', async () => {
    await expect(service.scoreOnline('screw', [], {})).rejects.toThrow(/images: upload at least one image/);
    await expect(service.scoreOnline('screw', [image('a\u0007.png')], {})).rejects.toThrow(/images\.0 .*control characters/);
    expect(runs.scored).toEqual([]);
  });
});

describe('ScoringService.submit', () => {
  it('queues the scoring with the version as asked (null for the current one)', async () => {
    await service.submit({ category: 'screw', input: 'store:batches/screw/', chunkSize: 8 });
    await service.submit({ category: 'screw', version: 'v2', input: 'store:batches/screw/', chunkSize: 8 });
    expect(runs.submitted.map((j) => [j.version, j.input, j.chunkSize])).toEqual([
      [null, 'store:batches/screw/', 8],
      ['v2', 'store:batches/screw/', 8],
    ]);
  });

  it("queues nothing for a missing model or an input in the fleet's own prefixes", async () => {
    await expect(service.submit({ category: 'screw', version: 'v7', input: 'store:batches/', chunkSize: 8 })).rejects.toThrow(/screw\/v7/);
    await expect(service.submit({ category: 'screw', input: 'store:models/screw/', chunkSize: 8 })).rejects.toThrow(/body\.input.*own prefixes/);
    await expect(service.submit({ category: 'screw', input: 's3://bucket/x/', chunkSize: 8 })).rejects.toBeInstanceOf(ContractError);
    expect(runs.submitted).toEqual([]);
  });

  it('answers 404 for an unknown scoring and a missing output', async () => {
    await expect(service.status('nope')).rejects.toThrow('scoring nope not found');
    await expect(service.output('5f1c7a2e-0000-4000-8000-000000000001', 'results.csv')).rejects.toBeInstanceOf(NotFoundException);
  });
});
