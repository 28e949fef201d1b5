import { BadRequestException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { detectArchiveFormat, inspectArchive, readArchiveEntries, readArchiveHead } from '@padim-fleet/archives';
import {
  ContractError,
  FleetConfig,
  TrainingPlan,
  TrainingRequest,
  TrainingStatus,
  TrainingUploadRequest,
  inputAccessProblem,
  s3Connection,
  trainingRequest,
} from '@padim-fleet/contracts';
import { DatasetError, TrainingRuns, planTraining, planWarnings } from '@padim-fleet/fleet';
import { BlobStore, LocalBlobStore, ModelNotFoundError, ModelRegistry, runPrefix } from '@padim-fleet/storage';
import { BLOB_STORE, FLEET_CONFIG } from '../common/tokens';

export interface SubmittedRun {
  runId: string;
  category: string;
  version: string;
  shards: number;
  images: number;
  heldOut: number;
  status: string;
  /** Set when the threshold rule's target is finer than the held-out images resolve; the run goes ahead. */
  warnings?: string[];
}

@Injectable()
export class TrainingsService {
  constructor(
    @Inject(FLEET_CONFIG) private readonly config: FleetConfig,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    private readonly runs: TrainingRuns,
    private readonly registry: ModelRegistry,
  ) {}

  async submit(request: TrainingRequest): Promise<SubmittedRun> {
    this.checkAccess(request, 'body');
    const plan = await this.plan(request, 'body');
    await this.runs.submit(plan);
    return summary(plan);
  }

  /**
   * All runs are planned (and so checked) before any is queued, then queued in one Redis transaction:
   * one bad entry, or Redis failing part-way, queues nothing.
   */
  async submitBatch(requests: TrainingRequest[]): Promise<SubmittedRun[]> {
    requests.forEach((request, i) => this.checkAccess(request, `body.runs.${i}`));
    const plans: TrainingPlan[] = [];
    for (const [i, request] of requests.entries()) plans.push(await this.plan(request, `runs.${i}`));
    await this.runs.submitAll(plans);
    return plans.map(summary);
  }

  /**
   * Training on an uploaded archive: it is inspected whole (hostile archives are a 400 before anything
   * is stored), unpacked into the run's own prefix, and trained on from there; the run's clean-up
   * removes the images with the rest of the run's objects.
   */
  async submitUpload(request: TrainingUploadRequest, file: { path: string; originalname: string } | undefined): Promise<SubmittedRun> {
    if (!file) throw new BadRequestException('archive: upload an archive of training images (multipart field "archive")');
    const runId = randomUUID();
    const prefix = `${runPrefix(runId)}images/`;
    try {
      const format = detectArchiveFormat(file.originalname, await readArchiveHead(file.path));
      if (!format) throw new BadRequestException(`archive: ${file.originalname} is not a .zip, .tar or .tar.gz archive`);
      const opts = { format, label: file.originalname, limits: { maxEntries: this.config.ARCHIVE_MAX_ENTRIES, maxTotalBytes: this.config.ARCHIVE_MAX_BYTES } };
      await inspectArchive(file.path, opts);
      for await (const entry of readArchiveEntries(file.path, opts)) await this.store.put(prefix + entry.path, entry.data);
      const plan = await this.plan(trainingRequest.parse({ ...request, dataset: `store:${prefix}` }), 'request', runId);
      await this.runs.submit(plan);
      return summary(plan);
    } catch (error) {
      await this.store.deletePrefix(runPrefix(runId)).catch(() => undefined);
      throw error;
    } finally {
      await fs.rm(file.path, { force: true });
    }
  }

  list(limit: number) {
    return this.runs.list(limit);
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

  /** A caller's dataset is read with the server's credential: only from the buckets it may name (uploads skip this: the API names their prefix). */
  private checkAccess(request: TrainingRequest, root: string): void {
    const problem = inputAccessProblem(request.dataset, this.config);
    if (problem) throw new ContractError('request', [{ path: `${root}.dataset`, message: problem }]);
  }

  private async plan(request: TrainingRequest, root: string, runId: string = randomUUID()): Promise<TrainingPlan> {
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
        runId,
        createdAt: new Date(),
        datasetRoots: this.config.PADIM_DATASET_ROOTS,
        maxImages: this.config.DATASET_MAX_IMAGES,
        s3: s3Connection(this.config),
        store: this.store,
        storeFolder: this.store instanceof LocalBlobStore ? this.store.root : undefined,
        extractWorkers: await this.runs.extractWorkerCount(),
      });
    } catch (error) {
      if (error instanceof DatasetError && root.startsWith('runs.')) throw new DatasetError(`${root}.${error.message}`);
      throw error;
    }
  }
}

function summary(plan: TrainingPlan): SubmittedRun {
  const warnings = planWarnings(plan);
  return {
    runId: plan.runId,
    category: plan.request.category,
    version: plan.version,
    shards: plan.shards.length,
    images: plan.shards.reduce((a, s) => a + s.length, 0),
    heldOut: plan.heldOut.length,
    status: `/v1/trainings/${plan.runId}`,
    ...(warnings.length > 0 ? { warnings } : {}),
  };
}
