import { Readable } from 'node:stream';
import { Controller, Delete, Get, HttpCode, Param, Post, Req, StreamableFile } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import {
  ModelCategoryDetail,
  ModelCategorySummary,
  ModelImported,
  ModelPromoted,
  categoryName,
  modelCategoryDetail,
  modelCategoryList,
  modelImportFields,
  modelImported,
  modelPromoted,
  reportFileName,
  versionName,
} from '@padim-fleet/contracts';
import { ApiResponses } from '../common/api-responses';
import { openApiSchema } from '../common/json-schema';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import { ModelsService } from '../services/models.service';

@ApiTags('models')
@ApiBearerAuth()
@Controller('v1/models')
export class ModelsController {
  constructor(private readonly service: ModelsService) {}

  @Get()
  @ApiOperation({ summary: 'Categories with models, their current version and version count' })
  @ApiResponses({ status: 200, schema: modelCategoryList, description: 'Every category with models' }, [401, 503])
  list(): Promise<ModelCategorySummary[]> {
    return this.service.list();
  }

  @Get(':category')
  @ApiOperation({ summary: 'Versions of a category with their metrics and thresholds, and which is current' })
  @ApiResponses({ status: 200, schema: modelCategoryDetail, description: "The category's versions" }, [400, 401, 404, 503])
  get(@Param('category', new ZodValidationPipe(categoryName, 'category')) category: string): Promise<ModelCategoryDetail> {
    return this.service.get(category);
  }

  @Get(':category/versions/:version/report/:file')
  @ApiOperation({
    summary:
      "A file of a version's evaluation report (report.html, roc.png, pro.png, score-histograms.png, worst-cases.png), made when its run had a validation set",
  })
  @ApiResponses({ status: 200, produces: ['text/html', 'image/png'], description: 'The report file' }, [400, 401, 404, 503])
  async report(
    @Param('category', new ZodValidationPipe(categoryName, 'category')) category: string,
    @Param('version', new ZodValidationPipe(versionName, 'version')) version: string,
    @Param('file', new ZodValidationPipe(reportFileName, 'file')) file: string,
  ) {
    const type = file.endsWith('.html') ? 'text/html; charset=utf-8' : 'image/png';
    return new StreamableFile((await this.service.reportFile(category, version, file)) as Readable, { type });
  }

  @Post(':category/versions/:version/promote')
  @HttpCode(200)
  @ApiOperation({ summary: 'Make a version current' })
  @ApiResponses({ status: 200, schema: modelPromoted, description: 'The version is current' }, [400, 401, 404, 503])
  promote(
    @Param('category', new ZodValidationPipe(categoryName, 'category')) category: string,
    @Param('version', new ZodValidationPipe(versionName, 'version')) version: string,
  ): Promise<ModelPromoted> {
    return this.service.promote(category, version);
  }

  @Get(':category/versions/:version/archive')
  @ApiOperation({ summary: 'The version as a tar (padim-model.json, manifest.json, the tensors), streamed from the store; POST …/import takes it back' })
  @ApiResponses({ status: 200, produces: ['application/x-tar'], description: 'The model archive' }, [400, 401, 404, 503])
  async archive(
    @Param('category', new ZodValidationPipe(categoryName, 'category')) category: string,
    @Param('version', new ZodValidationPipe(versionName, 'version')) version: string,
  ) {
    return new StreamableFile(await this.service.archive(category, version), {
      type: 'application/x-tar',
      disposition: `attachment; filename="${category}-${version}.tar"`,
    });
  }

  @Post(':category/import')
  @HttpCode(201)
  @ApiOperation({
    summary: 'Publish a model archive (multipart field "archive"; fields promote?, version?) with every checksum verified; an existing version is a 409',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ schema: { type: 'object', properties: { archive: { type: 'string', format: 'binary' }, ...openApiSchema(modelImportFields).properties } } })
  @ApiResponses({ status: 201, schema: modelImported, description: 'The version is published' }, [400, 401, 409, 413, 503])
  import(@Param('category', new ZodValidationPipe(categoryName, 'category')) category: string, @Req() req: Request): Promise<ModelImported> {
    return this.service.importUpload(category, req);
  }

  @Delete(':category/versions/:version')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a version that is not current' })
  @ApiResponses({ status: 204, description: 'The version is deleted' }, [400, 401, 404, 409, 503])
  async remove(
    @Param('category', new ZodValidationPipe(categoryName, 'category')) category: string,
    @Param('version', new ZodValidationPipe(versionName, 'version')) version: string,
  ) {
    await this.service.remove(category, version);
  }
}
