import { BadRequestException, Inject, Injectable, Logger, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Request } from 'express';
import {
  ContractError,
  FleetConfig,
  SubmittedTraining,
  SubmittedTrainingUpload,
  TrainingRunSummary,
  TrainingPlan,
  TrainingRequest,
  TrainingStatus,
  TrainingUploadRequest,
  callbackUrlProblem,
  inputAccessProblem,
  s3Connection,
  trainingUploadRequest,
  versionFor,
} from '@padim-fleet/contracts';
import { DatasetError, TrainingRuns, planTraining, planWarnings } from '@padim-fleet/fleet';
import { BlobStore, LocalBlobStore, ModelNotFoundError, ModelRegistry, runPrefix, runUploadPrefix } from '@padim-fleet/storage';
import { receiveArchiveUpload } from '../common/archive-upload';
import { BLOB_STORE, FLEET_CONFIG } from '../common/tokens';
import { ZodValidationPipe } from '../common/zod-validation.pipe';

@Injectable()
export class TrainingsService {
  private readonly logger = new Logger('api');

  constructor(
    @Inject(FLEET_CONFIG) private readonly config: FleetConfig,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    private readonly runs: TrainingRuns,
    private readonly registry: ModelRegistry,
  ) {}

  async submit(request: TrainingRequest): Promise<SubmittedTraining> {
    this.checkAccess(request, 'body');
    const plan = await this.plan(request, 'body');
    await this.runs.submit(plan);
    this.logQueued(plan);
    return summary(plan);
  }

  /**
   * All runs are planned (and so checked) before any is queued, then queued in one Redis transaction:
   * one bad entry, or Redis failing part-way, queues nothing.
   */
  async submitBatch(requests: TrainingRequest[]): Promise<SubmittedTraining[]> {
    requests.forEach((request, i) => this.checkAccess(request, `body.runs.${i}`));
    const plans: TrainingPlan[] = [];
    for (const [i, request] of requests.entries()) plans.push(await this.plan(request, `runs.${i}`));
    await this.runs.submitAll(plans);
    plans.forEach((plan) => this.logQueued(plan));
    return plans.map(summary);
  }

  /**
   * Training on an uploaded archive: the archive is streamed into the run's own prefix (within
   * API_MAX_UPLOAD_BYTES) and a PrepareTraining job inspects and unpacks it, then plans and queues the
   * run; the answer is a 202 as soon as the archive is stored. The request is checked when it arrives,
   * before the archive if it is sent first; a bad one (or a bad archive) leaves nothing stored.
   */
  async submitUpload(req: Request): Promise<SubmittedTrainingUpload> {
    const runId = randomUUID();
    const createdAt = new Date();
    let request: TrainingUploadRequest | undefined;
    const checkRequest = async (fields: Record<string, string>) => {
      if (fields.request === undefined) return;
      request ??= await this.uploadRequest(fields.request);
    };
    try {
      const upload = await receiveArchiveUpload(req, {
        store: this.store,
        maxBytes: this.config.API_MAX_UPLOAD_BYTES,
        // A fixed name: the uploaded one travels in the job, for its errors.
        keyFor: () => `${runUploadPrefix(runId)}archive`,
        beforeArchive: checkRequest,
      });
      const unknown = Object.keys(upload.fields).filter((name) => name !== 'request');
      if (unknown.length > 0) throw new BadRequestException(`${unknown[0]}: unknown field; send "request" (the training request as JSON) and "archive"`);
      await checkRequest(upload.fields);
      if (!request) throw new BadRequestException('request: send the training request as JSON in the multipart field "request"');
      await this.runs.submitUpload({ runId, createdAt: createdAt.toISOString(), request, archive: { key: upload.archive.key, name: upload.archive.name } });
      const version = versionFor(runId, createdAt);
      this.logger.log({ runId, category: request.category, version }, `training ${runId}: archive ${upload.archive.name} stored, preparing`);
      return { runId, category: request.category, version, state: 'preparing', status: `/v1/trainings/${runId}` };
    } catch (error) {
      await this.store.deletePrefix(runPrefix(runId)).catch(() => undefined);
      throw error;
    }
  }

  /** The `request` field: JSON of a training request without dataset; a missing baseVersion is a 400 too. */
  private async uploadRequest(text: string): Promise<TrainingUploadRequest> {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new BadRequestException('request: must be valid JSON');
    }
    const request = new ZodValidationPipe(trainingUploadRequest, 'request').transform(json);
    this.checkCallback(request, 'request');
    await this.checkBaseVersion(request, 'request');
    return request;
  }

  list(limit: number): Promise<TrainingRunSummary[]> {
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
    this.logger.log({ runId, category: status.category, version: status.version }, `training ${runId}: cancelled (state ${status.state})`);
    return status;
  }

  private logQueued(plan: TrainingPlan): void {
    const images = plan.shards.reduce((a, s) => a + s.length, 0);
    this.logger.log(
      { runId: plan.runId, category: plan.request.category, version: plan.version, images, heldOut: plan.heldOut.length, shardCount: plan.shards.length },
      `training ${plan.runId}: queued, ${images} images in ${plan.shards.length} shards`,
    );
  }

  /** A caller's dataset is read with the server's credential: only from the buckets it may name (uploads skip this: the API names their prefix). */
  private checkAccess(request: TrainingRequest, root: string): void {
    const problem = inputAccessProblem(request.dataset, this.config);
    if (problem) throw new ContractError('request', [{ path: `${root}.dataset`, message: problem }]);
    this.checkCallback(request, root);
  }

  /** The fleet POSTs to a callbackUrl from inside its network: only to the hosts PADIM_CALLBACK_HOSTS lists. */
  private checkCallback(request: { callbackUrl?: string }, root: string): void {
    if (request.callbackUrl === undefined) return;
    const problem = callbackUrlProblem(request.callbackUrl, this.config);
    if (problem) throw new ContractError('request', [{ path: `${root}.callbackUrl`, message: problem }]);
  }

  private async checkBaseVersion(request: { category: string; baseVersion?: string }, root: string): Promise<void> {
    if (!request.baseVersion) return;
    try {
      await this.registry.readManifest(request.category, request.baseVersion);
    } catch (error) {
      if (error instanceof ModelNotFoundError) {
        throw new ContractError('request', [{ path: `${root}.baseVersion`, message: `model ${request.category}/${request.baseVersion} does not exist` }]);
      }
      throw error;
    }
  }

  private async plan(request: TrainingRequest, root: string, runId: string = randomUUID()): Promise<TrainingPlan> {
    await this.checkBaseVersion(request, root);
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

function summary(plan: TrainingPlan): SubmittedTraining {
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
