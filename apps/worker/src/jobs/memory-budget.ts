import { UnrecoverableError } from 'bullmq';
import { TrainingPlan } from '@padim-fleet/contracts';
import { InsufficientMemoryError, MemoryRole, assertMemoryFits, memoryNeed } from '@padim-fleet/inference';
import { gridOf } from './training-plan';
import { JobContext } from './job-context';

/**
 * Fails `what` without retries when its model needs more memory than WORKER_MEMORY_MB allows (no check
 * when unset): a retry on the same worker would need the same, and a worker the kernel kills would
 * take its other jobs with it.
 */
export async function refuseUnlessMemoryFits(ctx: JobContext, plan: TrainingPlan, what: string, role: Exclude<MemoryRole, 'score'>): Promise<void> {
  const limitMB = ctx.config.WORKER_MEMORY_MB;
  if (limitMB === undefined) return;
  const { backbone, selection } = await ctx.extractors.selection(plan.request);
  const grid = gridOf(plan, backbone);
  const positions = grid.height * grid.width;
  const need = memoryNeed({
    role,
    backbone: backbone.spec.name,
    positions,
    d: selection.d,
    reduceBufferBytes: role === 'reduce' ? ctx.config.REDUCE_MEMORY_MB * 1024 ** 2 : 0,
    device: ctx.config.PADIM_DEVICE,
    comoments: ctx.config.PADIM_ACCUMULATE,
  });
  try {
    assertMemoryFits(what, need, limitMB * 1024 ** 2, `WORKER_MEMORY_MB=${limitMB}`);
  } catch (error) {
    if (error instanceof InsufficientMemoryError)
      throw new UnrecoverableError(`${error.message}: raise WORKER_MEMORY_MB on a larger worker, or train with a smaller d or image size`);
    throw error;
  }
}
