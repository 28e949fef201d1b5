import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  ContractError,
  FleetConfig,
  TrainingPlan,
  TrainingRequest,
  TrainingStatus,
  s3Connection,
} from '@padim-fleet/contracts';
import { DatasetError, TrainingRuns, planTraining } from '@padim-fleet/fleet';
import { ModelNotFoundError, ModelRegistry } from '@padim-fleet/storage';
import { FLEET_CONFIG } from '../common/tokens';

export interface SubmittedRun {
  runId: string;
  category: string;
  version: string;
  shards: number;
  images: number;
  heldOut: number;
  status: string;
}

@Injectable()
export class TrainingsService {
  constructor(
    @Inject(FLEET_CONFIG) private readonly config: FleetConfig,
    private readonly runs: TrainingRuns,
    private readonly registry: ModelRegistry,
  ) {}

  async submit(request: TrainingRequest): Promise<SubmittedRun> {
    const plan = await this.plan(request, 'body');
    await this.runs.submit(plan);
    return summary(plan);
  }

  /** All runs are planned (and so checked) before any is queued: one bad entry queues nothing. */
  async submitBatch(requests: TrainingRequest[]): Promise<SubmittedRun[]> {
    const plans: TrainingPlan[] = [];
    for (const [i, request] of requests.entries()) plans.push(await this.plan(request, `runs.${i}`));
    for (const plan of plans) await this.runs.submit(plan);
    return plans.map(summary);
  }

  async status(runId: string): Promise<TrainingStatus> {
    const status = await this.runs.status(runId);
    if (!status) throw new NotFoundException(`training run ${runId} not found`);
    return status;
  }

  async cancel(runId: string): Promise<TrainingStatus> {
    const status = await this.runs.cancel(runId);
    if (!status) throw new NotFoundException(`training run ${runId} not found`);
    return status;
  }

  private async plan(request: TrainingRequest, root: string): Promise<TrainingPlan> {
    if (request.baseVersion) {
      try {
        await this.registry.readManifest(request.category, request.baseVersion);
      } catch (error) {
        if (error instanceof ModelNotFoundError) {
          throw new ContractError('request', [{ path: `${root}.baseVersion`, message: `model ${request.category}/${request.baseVersion} does not exist` }]);
        }
        throw error;
      }
    }
    try {
      return await planTraining(request, {
        runId: randomUUID(),
        createdAt: new Date(),
        datasetRoots: this.config.PADIM_DATASET_ROOTS,
        s3: s3Connection(this.config),
      });
    } catch (error) {
      if (error instanceof DatasetError && root !== 'body') throw new DatasetError(`${root}.${error.message}`);
      throw error;
    }
  }
}

function summary(plan: TrainingPlan): SubmittedRun {
  return {
    runId: plan.runId,
    category: plan.request.category,
    version: plan.version,
    shards: plan.shards.length,
    images: plan.shards.reduce((a, s) => a + s.length, 0),
    heldOut: plan.heldOut.length,
    status: `/v1/trainings/${plan.runId}`,
  };
}
