import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { NotFoundException } from '@nestjs/common';
import { loadFleetConfig, modelCategoryDetail, modelCategoryList } from '@padim-fleet/contracts';
import { publishModel } from '@padim-fleet/fleet';
import { LocalBlobStore, ModelConflictError, ModelNotFoundError, ModelRegistry } from '@padim-fleet/storage';
import { tinyModel } from '../../../../test/support/tiny-model';
import { ModelsService } from './models.service';

let root: string;
let registry: ModelRegistry;
let service: ModelsService;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'models-service-'));
  const store = new LocalBlobStore(root);
  registry = new ModelRegistry(store);
  service = new ModelsService(registry, loadFleetConfig({}), store);
  await publishModel(registry, 'screw', 'v1', tinyModel());
  await publishModel(registry, 'screw', 'v2', tinyModel(), { makeCurrent: false });
  await publishModel(registry, 'nut', 'v1', tinyModel());
});
afterEach(() => fs.rm(root, { recursive: true, force: true }));

describe('ModelsService', () => {
  it('lists each category with its current version and how many versions it has', async () => {
    expect(await service.list()).toEqual([
      { category: 'nut', current: 'v1', versions: 1 },
      { category: 'screw', current: 'v1', versions: 2 },
    ]);
  });

  it("describes a category's versions from their manifests, marking the current one", async () => {
    const detail = await service.get('screw');
    // The answer is what the OpenAPI document and `padim remote` read it as.
    expect(modelCategoryDetail.parse(detail)).toEqual(detail);
    expect(modelCategoryList.parse(await service.list())).toEqual(await service.list());
    expect(detail.current).toBe('v1');
    expect(detail.versions.map((v) => [v.version, v.current, v.d, v.training.heldOutCount])).toEqual([
      ['v1', true, 4, 2],
      ['v2', false, 4, 2],
    ]);
    await expect(service.get('bolt')).rejects.toThrow(new NotFoundException('no models for category bolt'));
  });

  it('promotes any published version, an older one too (a rollback), and refuses a missing one', async () => {
    expect(await service.promote('screw', 'v2')).toEqual({ category: 'screw', current: 'v2' });
    expect(await service.promote('screw', 'v1')).toEqual({ category: 'screw', current: 'v1' });
    expect(await registry.getCurrent('screw')).toBe('v1');
    await expect(service.promote('screw', 'v9')).rejects.toBeInstanceOf(ModelNotFoundError);
    expect(await registry.getCurrent('screw')).toBe('v1');
  });

  it('deletes a version that is not current, and refuses the current one', async () => {
    await expect(service.remove('screw', 'v1')).rejects.toBeInstanceOf(ModelConflictError);
    await service.remove('screw', 'v2');
    expect(await registry.listVersions('screw')).toEqual(['v1']);
  });

  it('answers 404 for the report of a missing version, and for a version without a report', async () => {
    await expect(service.reportFile('screw', 'v9', 'report.html')).rejects.toThrow(new NotFoundException('no version v9 of category screw'));
    await expect(service.reportFile('screw', 'v1', 'report.html')).rejects.toThrow(/screw\/v1 has no report\.html in its evaluation report/);
  });

  it('refuses a category name the registry cannot hold before reading anything', async () => {
    await expect(service.get('../models')).rejects.toThrow(/category/);
    await expect(service.promote('screw', '../v1')).rejects.toThrow(/version/);
  });
});
