import { randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Job, UnrecoverableError } from 'bullmq';
import {
  ExtractFeaturesResult,
  FitGaussianJob,
  FitGaussianResult,
  FittedShard,
  ReduceProgress,
  TrainingPlan,
  fitGaussianJob,
  s3Connection,
} from '@padim-fleet/contracts';
import { MergeResult, NotEnoughSamplesError, mergePartials } from '@padim-fleet/compute';
import { VersionFiles, openImageSource, publishVersion } from '@padim-fleet/fleet';
import {
  ModelTensors,
  PadimScorer,
  embedImages,
  evaluateModel,
  evaluationDistances,
  manifestWithThresholds,
  modelManifestBase,
  storedMetrics,
  listMvtecTestSet,
  writeEvaluationReport,
  readFloat32File,
} from '@padim-fleet/inference';
import {
  ACCUMULATOR_FILE,
  COVARIANCE_REGULARIZATION,
  INV_CHOLESKY_FILE,
  MEAN_FILE,
  ModelManifest,
  ModelThresholds,
  parseModelManifest,
} from '@padim-fleet/padim-core';
import { ModelNotFoundError, REPORT_FOLDER, modelVersionPrefix, runPrefix } from '@padim-fleet/storage';
import { refuseUnlessMemoryFits } from './memory-budget';
import { JobContext, RunStoppedError, parseJobData, runStopReason, runtimeOf, throwIfStopped } from './job-context';
import { fitInputOf, gridOf, loadPlan, thresholdImages } from './training-plan';

/** Most memory the threshold images' embeddings may take while they wait for the merge (32 screw images: 52 MB). */
const EMBED_AHEAD_BYTES = 256 * 1024 ** 2;

/**
 * The parent of a training flow: merges the shards' partials (and the base version's statistics when
 * extending one) block by block, finalises, sets thresholds, publishes the version and moves
 * `current`. Safe to retry at every step: artifacts are rewritten under the run's fixed version, the
 * manifest is written after them, and a retry that finds this run's manifest only finishes up.
 */
export async function fitGaussianHandler(job: Job, ctx: JobContext): Promise<FitGaussianResult> {
  const started = Date.now();
  const data = parseJobData(fitGaussianJob, job);
  const { runId, category, version } = data;
  const stopped = await runStopReason(ctx, runId);
  if (stopped) {
    await ctx.store.deletePrefix(runPrefix(runId));
    throw new RunStoppedError(runId, stopped);
  }
  const report = (progress: ReduceProgress) => void job.updateProgress(progress as unknown as object).catch(() => undefined);

  const published = await readManifestIfAny(ctx, category, version);
  if (published?.lineage?.runId === runId) return finish(ctx, data, published, started);

  const plan = await loadPlan(ctx, runId);
  const children = Object.values(await job.getChildrenValues<ExtractFeaturesResult>()).sort((a, b) => a.partialKey.localeCompare(b.partialKey));
  if (children.length !== data.shardCount) throw new Error(`run ${runId}: expected ${data.shardCount} partials, the shards returned ${children.length}`);
  if (children.length === 1 && children[0].fitted) return publishFittedShard(ctx, data, plan, { ...children[0], fitted: children[0].fitted }, started);
  await refuseUnlessMemoryFits(ctx, plan, `run ${runId} (fit-gaussian)`, 'reduce');
  const keys = children.map((c) => c.partialKey);
  const { backbone, selection } = await ctx.extractors.selection(plan.request);
  const grid = gridOf(plan, backbone);

  const baseVersion = plan.request.baseVersion ?? null;
  if (baseVersion) keys.unshift(await baseAccumulatorKey(ctx, plan, baseVersion, { backbone: backbone.onnxSha256, selection, grid }));

  const dir = path.join(ctx.scratchDir, `${runId}-${randomBytes(4).toString('hex')}`);
  const skipped = children.flatMap((c) => c.skipped);
  const runtime = runtimeOf(ctx.config);
  const validation = plan.request.validation ? await listMvtecTestSet(plan.request.validation) : undefined;
  const normals = thresholdImages(plan, skipped);
  const lease = await ctx.extractors.acquire(plan.request);
  const source = openImageSource(plan.source, s3Connection(ctx.config), ctx.store, ctx.config.IMAGE_MAX_BYTES);
  // The images that set the thresholds are embedded while the partials merge: that work does not
  // depend on the model, and the merge leaves a core free. Bounded, so a large training set without a
  // hold-out is embedded after the merge instead, batch by batch.
  const positions = grid.height * grid.width;
  const embedAhead =
    !validation && normals.length * selection.d * positions * 4 <= EMBED_AHEAD_BYTES
      ? embedImages(lease.extractor, normals, { size: plan.request.size, crop: plan.request.crop ?? null, read: source.read })
      : null;
  embedAhead?.catch(() => undefined); // awaited below; a failure during the merge must not go unhandled
  try {
    let merged: MergeResult;
    try {
      merged = await mergePartials(ctx.store, keys, {
        dir,
        memoryBytes: ctx.config.REDUCE_MEMORY_MB * 1024 ** 2,
        regularization: COVARIANCE_REGULARIZATION,
        expect: { positions, dim: selection.d },
        threads: runtime.threads,
        onProgress: (done, total) => report({ stage: 'merge', done, total }),
      });
    } catch (error) {
      if (!(error instanceof NotEnoughSamplesError)) throw error;
      const why = skipped
        .slice(0, 5)
        .map((s) => `; ${s.file}: ${s.error}`)
        .join('');
      throw new UnrecoverableError(`run ${runId}: training needs at least 2 usable images, the shards hold ${error.count}${why}`);
    }
    const mergedAt = Date.now();
    ctx.log.debug({ partials: keys.length, ms: mergedAt - started }, `${keys.length} partial accumulators merged`);
    // The uploads run while the thresholds are computed: both need only the finalised files.
    report({ stage: 'thresholds', done: 0, total: 1 });
    const uploads = Promise.all([
      // A run of one shard: its partial is the model's accumulator, copied within the store, not uploaded again.
      merged.sameAs
        ? ctx.registry.copyArtifact(category, version, ACCUMULATOR_FILE, merged.sameAs)
        : ctx.registry.writeArtifact(category, version, ACCUMULATOR_FILE, createReadStream(merged.accumulatorFile)),
      ctx.registry.writeArtifact(category, version, MEAN_FILE, createReadStream(merged.meanFile!)),
      ctx.registry.writeArtifact(category, version, INV_CHOLESKY_FILE, createReadStream(merged.invCholeskyFile!)),
    ]);
    uploads.catch(() => undefined); // awaited below; a failure while thresholds run must not go unhandled
    const tensors: ModelTensors = { mean: await readFloat32File(merged.meanFile!), invCholesky: await readFloat32File(merged.invCholeskyFile!) };

    const base = await manifestWithThresholds(
      fitInputOf(plan, { backbone, selection }, merged.count, skipped),
      tensors,
      { backbone, runtime, validation, thresholdRule: plan.request.thresholdRule, read: source.read },
      embedAhead ? await embedAhead : normals,
      lease.extractor,
    );
    if (validation) {
      const scorer = await PadimScorer.create({ ...base, tensors: undefined as never }, tensors, backbone, runtime, {
        extractor: lease.extractor,
        distances: evaluationDistances(base.grid.height * base.grid.width, base.embedding.d),
      });
      try {
        const { metrics, results } = await evaluateModel(scorer, validation, { keepMaps: true });
        base.metrics = storedMetrics(metrics);
        // The report's files go in before the manifest, like every artifact: a version never shows half a report.
        const reportDir = path.join(dir, REPORT_FOLDER);
        const files = await writeEvaluationReport(reportDir, {
          manifest: base,
          thresholds: base.thresholds,
          metrics,
          results,
          side: scorer.side,
          dataset: plan.request.validation!,
        });
        for (const file of files)
          await ctx.registry.writeArtifact(category, version, `${REPORT_FOLDER}/${file.name}`, createReadStream(path.join(reportDir, file.name)));
      } finally {
        await scorer.release();
      }
    }
    const thresholdsAt = Date.now();
    report({ stage: 'publish', done: 0, total: 1 });
    const [accumulator, mean, invCholesky] = await uploads;
    const uploadedAt = Date.now();
    const result = await finish(ctx, data, await publishRunModel(ctx, data, base, { accumulator, mean, invCholesky }, baseVersion), started);
    result.stages = {
      // The slowest shard's write of its partial, for the record of where a run's time goes.
      partialUploadSeconds: Math.max(0, ...children.map((c) => c.uploadSeconds ?? 0)),
      mergeSeconds: (mergedAt - started) / 1000,
      thresholdsSeconds: (thresholdsAt - mergedAt) / 1000,
      uploadWaitSeconds: (uploadedAt - thresholdsAt) / 1000,
      publishSeconds: (Date.now() - uploadedAt) / 1000,
    };
    return result;
  } finally {
    await embedAhead?.catch(() => undefined); // the extractor is not given back while it still runs
    await lease.release();
    await source.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * A run whose only shard fitted the model (see fitOnlyShard): its files are copied into the version
 * within the store (no bytes through this process), then published with the thresholds it set.
 */
async function publishFittedShard(
  ctx: JobContext,
  data: FitGaussianJob,
  plan: TrainingPlan,
  child: ExtractFeaturesResult & { fitted: FittedShard },
  started: number,
): Promise<FitGaussianResult> {
  const copyStarted = Date.now();
  const { category, version } = data;
  const fitted = child.fitted;
  const [accumulator, mean, invCholesky] = await Promise.all([
    ctx.registry.copyArtifact(category, version, ACCUMULATOR_FILE, fitted.accumulator),
    ctx.registry.copyArtifact(category, version, MEAN_FILE, fitted.mean),
    ctx.registry.copyArtifact(category, version, INV_CHOLESKY_FILE, fitted.invCholesky),
  ]);
  const copiedAt = Date.now();
  const base = modelManifestBase(fitInputOf(plan, await ctx.extractors.selection(plan.request), fitted.imageCount, child.skipped));
  base.thresholds = fitted.thresholds as unknown as ModelThresholds;
  const result = await finish(ctx, data, await publishRunModel(ctx, data, base, { accumulator, mean, invCholesky }, null), started);
  result.stages = {
    fitInExtractSeconds: fitted.stages.finalizeSeconds + fitted.stages.thresholdsSeconds + fitted.stages.uploadWaitSeconds,
    ...fitted.stages,
    copySeconds: (copiedAt - copyStarted) / 1000,
    publishSeconds: (Date.now() - copiedAt) / 1000,
  };
  return result;
}

/** Publishes the run's model, whose files are in its version, unless the run was stopped meanwhile. */
async function publishRunModel(
  ctx: JobContext,
  data: FitGaussianJob,
  base: Omit<ModelManifest, 'tensors'>,
  files: VersionFiles,
  baseVersion: string | null,
): Promise<ModelManifest> {
  base.training.seconds = (Date.now() - Date.parse(data.createdAt)) / 1000;
  await throwIfStopped(ctx, data.runId); // a run cancelled by now is not published; its files are removed with it
  return publishVersion(ctx.registry, data.category, data.version, base, files, { runId: data.runId, baseVersion });
}

/**
 * Moves `current` forward only (when asked): a run that finishes after a newer version became current
 * leaves it there. Then removes the run's objects.
 */
async function finish(ctx: JobContext, data: FitGaussianJob, manifest: ModelManifest, started: number): Promise<FitGaussianResult> {
  const current = data.promote ? await ctx.registry.advanceCurrent(data.category, data.version) : false;
  await ctx.store.deletePrefix(runPrefix(data.runId));
  ctx.log.info(
    { images: manifest.training.imageCount, current, ms: Date.now() - started },
    `model ${data.category}/${data.version} published${current ? ', now current' : ''}`,
  );
  return {
    category: data.category,
    version: data.version,
    imageCount: manifest.training.imageCount,
    current,
    metrics: manifest.metrics,
    seconds: (Date.now() - started) / 1000,
  };
}

async function readManifestIfAny(ctx: JobContext, category: string, version: string): Promise<ModelManifest | null> {
  try {
    return parseModelManifest(await ctx.registry.readManifest(category, version));
  } catch (error) {
    if (error instanceof ModelNotFoundError) return null;
    throw error;
  }
}

/** The stored statistics of `baseVersion`, after checking they were made the same way as this run's. */
async function baseAccumulatorKey(
  ctx: JobContext,
  plan: TrainingPlan,
  baseVersion: string,
  expected: { backbone: string; selection: unknown; grid: { height: number; width: number } },
): Promise<string> {
  const category = plan.request.category;
  let base: ModelManifest;
  try {
    base = parseModelManifest(await ctx.registry.readManifest(category, baseVersion));
  } catch (error) {
    throw new UnrecoverableError(`baseVersion: ${(error as Error).message}`);
  }
  const problems: string[] = [];
  if (base.backbone.onnxSha256 !== expected.backbone) problems.push(`backbone ${base.backbone.name} differs`);
  if (JSON.stringify(base.embedding) !== JSON.stringify(expected.selection)) problems.push('embedding (d, seed or kind) differs');
  if (base.input.size !== plan.request.size || base.input.crop !== (plan.request.crop ?? null)) problems.push('input size or crop differs');
  if (!base.accumulator) problems.push('it stores no accumulator');
  if (problems.length > 0) throw new UnrecoverableError(`baseVersion ${category}/${baseVersion} cannot be extended: ${problems.join('; ')}`);
  return `${modelVersionPrefix(category, baseVersion)}${base.accumulator!.file}`;
}
