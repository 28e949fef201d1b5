import { UnrecoverableError } from 'bullmq';
import { ContractError, TrainingPlan } from '@padim-fleet/contracts';
import { readPlan } from '@padim-fleet/fleet';
import { BlobNotFoundError } from '@padim-fleet/storage';
import { JobContext } from './job-context';

/** A run's plan, as its jobs read it; a plan missing or unreadable fails the job without retries. */
export async function loadPlan(ctx: JobContext, runId: string): Promise<TrainingPlan> {
  try {
    return await readPlan(ctx.store, runId);
  } catch (error) {
    if (error instanceof BlobNotFoundError) throw new UnrecoverableError(`run ${runId}: its plan is missing from the store (${error.message})`);
    if (error instanceof ContractError) throw new UnrecoverableError(error.message);
    throw error;
  }
}
