import { BadRequestException, Inject, Injectable, NotFoundException, PayloadTooLargeException } from '@nestjs/common';
import { promises as fs } from 'node:fs';
import { Readable } from 'node:stream';
import type { FleetConfig, ModelImportFields } from '@padim-fleet/contracts';
import { RegistryImportTarget, importModelArchive, openModelArchive } from '@padim-fleet/fleet';
import { ModelManifest, parseModelManifest } from '@padim-fleet/padim-core';
import { ModelRegistry, validateCategory, validateVersion } from '@padim-fleet/storage';
import { FLEET_CONFIG } from '../common/tokens';

export interface ModelVersionSummary {
  version: string;
  current: boolean;
  createdAt: string;
  backbone: string;
  d: number;
  embedding: string;
  input: { size: number; crop: number | null };
  imageCount: number;
  thresholds: ModelManifest['thresholds'];
  metrics?: Record<string, number | null>;
  baseVersion: string | null;
  runId: string | null;
}

@Injectable()
export class ModelsService {
  constructor(
    private readonly registry: ModelRegistry,
    @Inject(FLEET_CONFIG) private readonly config: FleetConfig,
  ) {}

  async list(): Promise<{ category: string; current: string | null; versions: number }[]> {
    const categories = await this.registry.listCategories();
    return Promise.all(
      categories.map(async (category) => ({
        category,
        current: await this.registry.getCurrent(category),
        versions: (await this.registry.listVersions(category)).length,
      })),
    );
  }

  async get(category: string): Promise<{ category: string; current: string | null; versions: ModelVersionSummary[] }> {
    validateCategory(category);
    const versions = await this.registry.listVersions(category);
    if (versions.length === 0) throw new NotFoundException(`no models for category ${category}`);
    const current = await this.registry.getCurrent(category);
    const summaries = await Promise.all(versions.map(async (v) => summarize(parseModelManifest(await this.registry.readManifest(category, v)), v, current)));
    return { category, current, versions: summaries };
  }

  async promote(category: string, version: string): Promise<{ category: string; current: string }> {
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

  /** Publishes an uploaded model archive as `category` / (`fields.version` or the archive's); the upload is removed afterwards. */
  async importArchive(
    category: string,
    fields: ModelImportFields,
    file: { path: string; originalname: string; size: number } | undefined,
  ): Promise<{ category: string; version: string; current: string | null }> {
    if (!file) throw new BadRequestException('archive: upload a model archive (multipart field "archive")');
    try {
      if (file.size > this.config.API_MAX_UPLOAD_BYTES) throw new PayloadTooLargeException(`archive: larger than ${this.config.API_MAX_UPLOAD_BYTES} bytes`);
      validateCategory(category);
      const target = new RegistryImportTarget(this.registry, { category, version: fields.version, promote: fields.promote });
      await importModelArchive(file.path, target, { label: `archive ${file.originalname}` });
      return { category, version: target.version, current: await this.registry.getCurrent(category) };
    } finally {
      await fs.rm(file.path, { force: true });
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
    thresholds: m.thresholds,
    metrics: m.metrics,
    baseVersion: m.lineage?.baseVersion ?? null,
    runId: m.lineage?.runId ?? null,
  };
}
