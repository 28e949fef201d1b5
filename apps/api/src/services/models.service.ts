import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import type { Request } from 'express';
import { randomUUID } from 'node:crypto';
import { createWriteStream, promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { FleetConfig, ModelImportFields, modelImportFields } from '@padim-fleet/contracts';
import { RegistryImportTarget, importModelArchive, openModelArchive } from '@padim-fleet/fleet';
import { ModelManifest, parseModelManifest } from '@padim-fleet/padim-core';
import { BlobStore, ModelNotFoundError, ModelRegistry, REPORT_FOLDER, uploadPrefix, validateCategory, validateVersion } from '@padim-fleet/storage';
import { receiveArchiveUpload } from '../common/archive-upload';
import { BLOB_STORE, FLEET_CONFIG } from '../common/tokens';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import type { ModelCategoryDetail, ModelCategorySummary, ModelImported, ModelPromoted, ModelVersionSummary } from '@padim-fleet/contracts';

@Injectable()
export class ModelsService {
  constructor(
    private readonly registry: ModelRegistry,
    @Inject(FLEET_CONFIG) private readonly config: FleetConfig,
    @Inject(BLOB_STORE) private readonly store: BlobStore,
  ) {}

  async list(): Promise<ModelCategorySummary[]> {
    const categories = await this.registry.listCategories();
    return Promise.all(
      categories.map(async (category) => ({
        category,
        current: await this.registry.getCurrent(category),
        versions: (await this.registry.listVersions(category)).length,
      })),
    );
  }

  async get(category: string): Promise<ModelCategoryDetail> {
    validateCategory(category);
    const versions = await this.registry.listVersions(category);
    if (versions.length === 0) throw new NotFoundException(`no models for category ${category}`);
    const current = await this.registry.getCurrent(category);
    const summaries = await Promise.all(versions.map(async (v) => summarize(parseModelManifest(await this.registry.readManifest(category, v)), v, current)));
    return { category, current, versions: summaries };
  }

  /** A file of the version's evaluation report; 404 when the version does not exist or has no report. */
  async reportFile(category: string, version: string, file: string): Promise<NodeJS.ReadableStream> {
    validateCategory(category);
    validateVersion(version);
    if (!(await this.registry.hasVersion(category, version))) throw new NotFoundException(`no version ${version} of category ${category}`);
    try {
      return await this.registry.openArtifact(category, version, `${REPORT_FOLDER}/${file}`);
    } catch (error) {
      if (!(error instanceof ModelNotFoundError)) throw error;
      throw new NotFoundException(
        `${category}/${version} has no ${file} in its evaluation report: a version has one when its run was trained with a validation set`,
      );
    }
  }

  async promote(category: string, version: string): Promise<ModelPromoted> {
    validateCategory(category);
    validateVersion(version);
    await this.registry.setCurrent(category, version);
    return { category, current: version };
  }

  async archive(category: string, version: string): Promise<Readable> {
    validateCategory(category);
    validateVersion(version);
    return openModelArchive(this.registry, category, version);
  }

  /**
   * Publishes an uploaded model archive as `category` / (the `version` field or the archive's). The upload
   * is streamed into the store under uploads/ like every other (API_MAX_UPLOAD_BYTES, 413 at the first
   * byte over), read back through a scratch file (archives are read from files), and removed afterwards.
   */
  async importUpload(category: string, req: Request): Promise<ModelImported> {
    validateCategory(category);
    const prefix = uploadPrefix(`model-upload-${randomUUID()}`);
    const fieldsOf = (raw: Record<string, string>) => new ZodValidationPipe(modelImportFields, 'body').transform(raw) as ModelImportFields;
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'padim-import-'));
    try {
      const upload = await receiveArchiveUpload(req, {
        store: this.store,
        maxBytes: this.config.API_MAX_UPLOAD_BYTES,
        keyFor: () => `${prefix}archive`,
        beforeArchive: async (raw) => void fieldsOf(raw),
      });
      const fields = fieldsOf(upload.fields);
      const file = path.join(dir, 'archive');
      await pipeline(await this.store.openRead(upload.archive.key), createWriteStream(file));
      const target = new RegistryImportTarget(this.registry, { category, version: fields.version, promote: fields.promote });
      await importModelArchive(file, target, { label: `archive ${upload.archive.name}` });
      return { category, version: target.version, current: await this.registry.getCurrent(category) };
    } finally {
      await this.store.deletePrefix(prefix).catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  async remove(category: string, version: string): Promise<void> {
    validateCategory(category);
    validateVersion(version);
    await this.registry.deleteVersion(category, version);
  }
}

function summarize(m: ModelManifest, version: string, current: string | null): ModelVersionSummary {
  return {
    version,
    current: version === current,
    createdAt: m.createdAt,
    backbone: m.backbone.name,
    d: m.embedding.d,
    embedding: m.embedding.kind,
    input: m.input,
    imageCount: m.training.imageCount,
    training: {
      imageCount: m.training.imageCount,
      heldOutCount: m.training.heldOutCount,
      skippedCount: m.training.skipped.length,
      seconds: m.training.seconds,
    },
    thresholds: m.thresholds,
    metrics: m.metrics,
    baseVersion: m.lineage?.baseVersion ?? null,
    runId: m.lineage?.runId ?? null,
  };
}
