import { UnrecoverableError } from 'bullmq';
import { loadFleetConfig, trainingPlan } from '@padim-fleet/contracts';
import { describeWithShared } from '../../../../libs/inference/src/testing/shared-data';
import { FeatureExtractorRepository } from '../repositories/feature-extractor.repository';
import type { JobContext } from './job-context';
import { refuseUnlessMemoryFits } from './memory-budget';

describeWithShared('refuseUnlessMemoryFits', () => {
  const extractors = new FeatureExtractorRepository({ threads: 1 });
  // resnet18 d=100 at 256×256: a 169 MB accumulator, 84 MB of factors, 0.6 GB of backbone and scratch,
  // and on the Gram path (the CPU's default there) a group of 128 embeddings, 0.22 GB.
  const plan = trainingPlan.parse({
    runId: 'run-memory-1',
    version: 'v1',
    createdAt: new Date(0).toISOString(),
    request: { category: 'screw', dataset: '/data/screw', backbone: 'resnet18' },
    source: { kind: 'folder', root: '/data/screw' },
    shards: [['a.png', 'b.png']],
    heldOut: [],
  });
  const ctxWith = (env: Record<string, string>) => ({ config: loadFleetConfig({ API_KEYS: undefined, ...env }), extractors }) as unknown as JobContext;

  it('fails the job without retries, naming the job, its need and the setting, when WORKER_MEMORY_MB is too small', async () => {
    const small = ctxWith({ WORKER_MEMORY_MB: '512' });
    const refusal = refuseUnlessMemoryFits(small, plan, 'run run-memory-1 shard 0 (extract-features)', 'extract');
    await expect(refusal).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(refusal).rejects.toThrow(
      'run run-memory-1 shard 0 (extract-features) needs about 0.99 GB of memory (resnet18 d=100, 4096 positions: accumulator 0.17 GB + Gram group 0.22 GB + resnet18 backbone and scratch 0.60 GB), WORKER_MEMORY_MB=512 allows 0.54 GB',
    );
    // The worker's own accumulation setting decides whether the group counts.
    await expect(refuseUnlessMemoryFits(ctxWith({ WORKER_MEMORY_MB: '512', PADIM_ACCUMULATE: 'float64' }), plan, 'shard', 'extract')).rejects.toThrow(
      /needs about 0\.77 GB .*accumulator 0\.17 GB \+ resnet18 backbone/,
    );
    // The reducer holds the factors and its merge blocks (REDUCE_MEMORY_MB) instead of the accumulator.
    await expect(
      refuseUnlessMemoryFits(ctxWith({ WORKER_MEMORY_MB: '800', REDUCE_MEMORY_MB: '512' }), plan, 'run run-memory-1 (fit-gaussian)', 'reduce'),
    ).rejects.toThrow(/needs about 1\.43 GB .*merge blocks 0\.54 GB \+ factors 0\.08 GB \+ threshold scoring 0\.21 GB/);
  });

  it('lets the job run when the model fits, or when WORKER_MEMORY_MB is unset', async () => {
    await expect(refuseUnlessMemoryFits(ctxWith({ WORKER_MEMORY_MB: '1024' }), plan, 'shard', 'extract')).resolves.toBeUndefined();
    await expect(refuseUnlessMemoryFits(ctxWith({ WORKER_MEMORY_MB: '900', PADIM_ACCUMULATE: 'float64' }), plan, 'shard', 'extract')).resolves.toBeUndefined();
    await expect(
      refuseUnlessMemoryFits(ctxWith({}), { ...plan, request: { ...plan.request, backbone: 'resnet50', d: 550 } }, 'shard', 'extract'),
    ).resolves.toBeUndefined();
  });
});
