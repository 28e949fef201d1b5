import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { ContractError, TrainingPlan, TrainingRequestInput, loadFleetConfig, trainingRequest } from '@padim-fleet/contracts';
import { DatasetError, TrainingRuns, publishModel } from '@padim-fleet/fleet';
import { LocalBlobStore, ModelRegistry } from '@padim-fleet/storage';
import { tinyModel } from '../../../../test/support/tiny-model';
import { TrainingsService } from './trainings.service';

/** Stands in for the Redis-backed runs: keeps what would have been queued. */
class FakeTrainingRuns {
  submitted: TrainingPlan[] = [];
  batches: TrainingPlan[][] = [];
  async submit(plan: TrainingPlan) {
    this.submitted.push(plan);
  }
  async submitAll(plans: TrainingPlan[]) {
    this.batches.push(plans);
  }
  async extractWorkerCount() {
    return 2;
  }
  async status() {
    return null;
  }
  async cancel() {
    return null;
  }
}

let root: string;
let store: LocalBlobStore;
let registry: ModelRegistry;
let runs: FakeTrainingRuns;
let service: TrainingsService;

const request = (fields: Partial<TrainingRequestInput> = {}) => trainingRequest.parse({ category: 'screw', dataset: 'store:datasets/screw/', ...fields });

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'trainings-service-'));
  store = new LocalBlobStore(root);
  registry = new ModelRegistry(store);
  runs = new FakeTrainingRuns();
  service = new TrainingsService(loadFleetConfig({}), store, runs as unknown as TrainingRuns, registry);
  for (let i = 0; i < 10; i++) await store.put(`datasets/screw/${String(i).padStart(2, '0')}.png`, 'png');
});
afterEach(() => fs.rm(root, { recursive: true, force: true }));

describe('TrainingsService', () => {
  it('plans the dataset, queues the plan and answers with its counts', async () => {
    const answer = await service.submit(request({ shards: 3 }));
    expect(runs.submitted).toHaveLength(1);
    const plan = runs.submitted[0];
    expect(answer).toEqual({
      runId: plan.runId,
      category: 'screw',
      version: plan.version,
      shards: 3,
      images: 8,
      heldOut: 2,
      status: `/v1/trainings/${plan.runId}`,
    });
    expect(plan.shards.flat().concat(plan.heldOut).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `datasets/screw/${String(i).padStart(2, '0')}.png`));
  });

  it('refuses a dataset without images, naming it, and queues nothing', async () => {
    await expect(service.submit(request({ dataset: 'store:datasets/empty/' }))).rejects.toThrow(
      new DatasetError('dataset: no images under store:datasets/empty/'),
    );
    expect(runs.submitted).toEqual([]);
  });

  it('refuses an s3:// dataset while no input bucket is allowed', async () => {
    const refused = service.submit(request({ dataset: 's3://other/screw/' }));
    await expect(refused).rejects.toBeInstanceOf(ContractError);
    await expect(refused).rejects.toThrow(/body\.dataset.*PADIM_S3_INPUT_BUCKETS/);
  });

  it('refuses a baseVersion that does not exist, and accepts one that does', async () => {
    await expect(service.submit(request({ baseVersion: 'v9' }))).rejects.toThrow(/body\.baseVersion.*model screw\/v9 does not exist/);
    expect(runs.submitted).toEqual([]);
    await publishModel(registry, 'screw', 'v9', tinyModel());
    await service.submit(request({ baseVersion: 'v9' }));
    expect(runs.submitted[0].request.baseVersion).toBe('v9');
  });

  it('queues a batch in one call only when every run plans, naming the bad entry', async () => {
    await expect(service.submitBatch([request(), request({ dataset: 'store:datasets/empty/' })])).rejects.toThrow(/^runs\.1\.dataset: no images/);
    expect(runs.batches).toEqual([]);
    const answers = await service.submitBatch([request(), request({ category: 'nut' })]);
    expect(runs.batches).toHaveLength(1);
    expect(runs.batches[0].map((p) => p.request.category)).toEqual(['screw', 'nut']);
    expect(answers.map((a) => a.runId)).toEqual(runs.batches[0].map((p) => p.runId));
  });

  it('answers 404 for a run Redis does not know', async () => {
    await expect(service.status('nope')).rejects.toThrow('training run nope not found');
    await expect(service.cancel('nope')).rejects.toThrow('training run nope not found');
  });
});
