import { Inject, Injectable, Logger, NotFoundException, BadRequestException, GatewayTimeoutException, BadGatewayException } from '@nestjs/common';
import type { Request } from 'express';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { z } from 'zod';
import {
  ContractError,
  FleetConfig,
  OnlineScoreResponse,
  ScoreImagesJob,
  ScoringRequest,
  ScoringStatus,
  SubmittedScoring,
  callbackUrl,
  callbackUrlProblem,
  inputAccessProblem,
  onlineImageName,
  categoryName,
  versionName,
} from '@padim-fleet/contracts';
import { ScoreTimeoutError, ScoringRuns, cleanUpWithRetries, isRedisUnavailableError, removeOnlineRequest, resolveModelVersion } from '@padim-fleet/fleet';
import {
  BlobNotFoundError,
  BlobStore,
  ModelRegistry,
  StoreUnavailableError,
  isStoreUnavailableReason,
  onlineOutputPrefix,
  scoringPrefix,
  scoringUploadPrefix,
  uploadPrefix,
} from '@padim-fleet/storage';
import { receiveArchiveUpload } from '../common/archive-upload';
import { BLOB_STORE, FLEET_CONFIG } from '../common/tokens';
import { ZodValidationPipe } from '../common/zod-validation.pipe';

/** The text fields of POST /v1/scorings/upload. */
const uploadFields = z
  .object({
    category: categoryName,
    version: versionName.optional(),
    chunkSize: z.coerce.number().int().min(1).max(1024).default(64),
    callbackUrl: callbackUrl.optional(),
  })
  .strict();
type UploadFields = z.infer<typeof uploadFields>;

export interface UploadedImage {
  originalname: string;
  buffer: Buffer;
  size: number;
}

/** Keeps an uploaded file's name usable as one key segment and as the row's name. */
function safeName(name: string, index: number): string {
  const base = path
    .basename(name.replace(/\\/g, '/'))
    .replace(/[^A-Za-z0-9._-]/g, '_')
    .replace(/^\.+/, '');
  return `${String(index).padStart(3, '0')}-${base || 'image'}`.slice(0, 200);
}

/** A client's file name as an error message quotes it: a long one shortened, so the message stays readable. */
function quotedName(name: string): string {
  return JSON.stringify(name.length > 60 ? `${name.slice(0, 40)}…${name.slice(-10)}` : name);
}

/** Each upload's file name, checked with its contract: a 400 names the field and the file. */
function imageNames(files: UploadedImage[]): string[] {
  return files.map((file, i) => new ZodValidationPipe(onlineImageName, `images.${i} (${quotedName(file.originalname)})`).transform(file.originalname));
}

@Injectable()
export class ScoringService {
  private readonly logger = new Logger('api');

  constructor(
    @Inject(FLEET_CONFIG) private readonly config: FleetConfig,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
    private readonly registry: ModelRegistry,
    private readonly runs: ScoringRuns,
  ) {}

  /** Resolves the version here so that a missing model is a 404 before anything is uploaded or queued. */
  async checkModel(category: string, version: string | undefined): Promise<string> {
    const resolved = await resolveModelVersion(this.registry, category, version);
    // `current` only ever names a published version (the current one cannot be deleted).
    if (version && !(await this.registry.hasVersion(category, resolved))) throw new NotFoundException(`model ${category}/${resolved} not found`);
    return resolved;
  }

  async scoreOnline(category: string, files: UploadedImage[], opts: { version?: string; inline?: boolean }): Promise<OnlineScoreResponse> {
    if (!files || files.length === 0) throw new BadRequestException('images: upload at least one image (multipart field "images")');
    const names = imageNames(files);
    // Resolved here, once: the worker scores with exactly this version, even if another is promoted meanwhile.
    const version = await this.checkModel(category, opts.version);
    const requestId = randomUUID();
    try {
      const images = [];
      for (const [i, file] of files.entries()) {
        const key = `${uploadPrefix(requestId)}${safeName(names[i], i)}`;
        await this.store.put(key, file.buffer);
        images.push({ key, name: names[i] });
      }
      const response = await this.scoreStored({ requestId, category, version, images, inline: opts.inline ?? false });
      this.logger.debug({ requestId, category, version, images: images.length }, `online request ${requestId}: scored`);
      // The API removes what it uploaded, whatever the outcome: a worker killed just after answering cannot leave it behind.
      await this.removeNow(requestId, () => this.store.deletePrefix(uploadPrefix(requestId)));
      return response;
    } catch (error) {
      // A request that gets no answer keeps nothing: not its images, nor PNGs a worker wrote for it.
      await this.removeNow(requestId, () => removeOnlineRequest(this.store, requestId));
      throw error;
    }
  }

  /** Removes before the answer; while the store is unreachable the removal goes on in the background. */
  private async removeNow(requestId: string, remove: () => Promise<unknown>): Promise<void> {
    await remove().catch(() => {
      void cleanUpWithRetries(remove).then((removed) => {
        if (!removed) this.logger.warn({ requestId }, `online request ${requestId}: its uploads could not be removed; the sweep of old uploads will`);
      });
    });
  }

  private async scoreStored(job: ScoreImagesJob): Promise<OnlineScoreResponse> {
    try {
      return (await this.runs.scoreNow(job, this.config.SCORE_TIMEOUT_MS)) as OnlineScoreResponse;
    } catch (error) {
      if (error instanceof ScoreTimeoutError) throw new GatewayTimeoutException(error.message);
      // Redis out is not the worker's failure: a 503 (DomainErrorsFilter) tells the client to retry.
      if (isRedisUnavailableError(error)) throw error;
      // Nor is a store the worker could not reach.
      if (isStoreUnavailableReason((error as Error).message)) throw new StoreUnavailableError((error as Error).message);
      throw new BadGatewayException(`scoring failed: ${(error as Error).message}`);
    }
  }

  async onlineOutput(requestId: string, kind: 'heatmaps' | 'masks', name: string): Promise<NodeJS.ReadableStream> {
    return this.open(`${onlineOutputPrefix(requestId)}${kind}/${name}`);
  }

  async submit(request: ScoringRequest): Promise<SubmittedScoring> {
    // Before the model: the input is read with the server's credential, so the caller must be allowed to name it.
    const problem = inputAccessProblem(request.input, this.config);
    if (problem) throw new ContractError('request', [{ path: 'body.input', message: problem }]);
    this.checkCallback(request.callbackUrl);
    await this.checkModel(request.category, request.version);
    const scoringId = randomUUID();
    await this.runs.submit({
      scoringId,
      category: request.category,
      version: request.version ?? null,
      input: request.input,
      chunkSize: request.chunkSize,
      createdAt: new Date().toISOString(),
      ...(request.callbackUrl !== undefined ? { callbackUrl: request.callbackUrl } : {}),
    });
    this.logQueued(scoringId, request.category, request.version);
    return { scoringId, status: `/v1/scorings/${scoringId}` };
  }

  /**
   * An uploaded archive is streamed into scorings/<id>/upload/ (within API_MAX_UPLOAD_BYTES) and scored
   * from there. The fields are checked, and the model too, when they arrive: before the archive is stored
   * if they are sent first. A refused upload leaves nothing stored.
   */
  async submitUpload(req: Request): Promise<SubmittedScoring> {
    const scoringId = randomUUID();
    let checked: UploadFields | undefined;
    const checkFields = async (fields: Record<string, string>) => {
      if (checked || fields.category === undefined) return;
      const parsed = new ZodValidationPipe(uploadFields, 'body').transform(fields);
      this.checkCallback(parsed.callbackUrl);
      await this.checkModel(parsed.category, parsed.version);
      checked = parsed;
    };
    const upload = await receiveArchiveUpload(req, {
      store: this.store,
      maxBytes: this.config.API_MAX_UPLOAD_BYTES,
      keyFor: (name) => `${scoringUploadPrefix(scoringId)}${safeName(name, 0)}`,
      beforeArchive: checkFields,
    });
    try {
      await checkFields(upload.fields);
      if (!checked) throw new BadRequestException('category: required (multipart field "category")');
      await this.runs.submit({
        scoringId,
        category: checked.category,
        version: checked.version ?? null,
        input: `store:${upload.archive.key}`,
        chunkSize: checked.chunkSize,
        createdAt: new Date().toISOString(),
        ...(checked.callbackUrl !== undefined ? { callbackUrl: checked.callbackUrl } : {}),
      });
      this.logQueued(scoringId, checked.category, checked.version);
      return { scoringId, status: `/v1/scorings/${scoringId}` };
    } catch (error) {
      await this.store.deletePrefix(scoringPrefix(scoringId)).catch(() => undefined);
      throw error;
    }
  }

  /** The fleet POSTs to a callbackUrl from inside its network: only to the hosts PADIM_CALLBACK_HOSTS lists. */
  private checkCallback(url: string | undefined): void {
    if (url === undefined) return;
    const problem = callbackUrlProblem(url, this.config);
    if (problem) throw new ContractError('request', [{ path: 'body.callbackUrl', message: problem }]);
  }

  private logQueued(scoringId: string, category: string, version: string | undefined): void {
    this.logger.log({ scoringId, category, ...(version ? { version } : {}) }, `scoring ${scoringId}: queued`);
  }

  list(limit: number): Promise<ScoringStatus[]> {
    return this.runs.list(limit);
  }

  async status(scoringId: string): Promise<ScoringStatus> {
    const status = await this.runs.status(scoringId);
    if (!status) throw new NotFoundException(`scoring ${scoringId} not found`);
    return status;
  }

  async output(scoringId: string, name: string): Promise<NodeJS.ReadableStream> {
    return this.open(`${scoringPrefix(scoringId)}${name}`);
  }

  private async open(key: string): Promise<NodeJS.ReadableStream> {
    try {
      if (!(await this.store.head(key))) throw new NotFoundException(`${key} not found`);
      return await this.store.openRead(key);
    } catch (error) {
      if (error instanceof BlobNotFoundError) throw new NotFoundException(`${key} not found`);
      throw error;
    }
  }
}
