import { Injectable, NotFoundException } from '@nestjs/common';
import { ModelManifest, parseModelManifest } from '@padim-fleet/padim-core';
import { ModelNotFoundError, ModelRegistry, REPORT_FOLDER, validateCategory, validateVersion } from '@padim-fleet/storage';

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
  constructor(private readonly registry: ModelRegistry) {}

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

  /** A file of the version's evaluation report; 404 when the version does not exist or has no report. */
  async reportFile(category: string, version: string, file: string): Promise<NodeJS.ReadableStream> {
    validateCategory(category);
    validateVersion(version);
    if (!(await this.registry.hasVersion(category, version))) throw new NotFoundException(`no version ${version} of category ${category}`);
    try {
      return await this.registry.openArtifact(category, version, `${REPORT_FOLDER}/${file}`);
    } catch (error) {
      if (!(error instanceof ModelNotFoundError)) throw error;
      throw new NotFoundException(`${category}/${version} has no ${file} in its evaluation report: a version has one when its run was trained with a validation set`);
    }
  }

  async promote(category: string, version: string): Promise<{ category: string; current: string }> {
    validateCategory(category);
    validateVersion(version);
    await this.registry.setCurrent(category, version);
    return { category, current: version };
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
