import { Readable } from 'node:stream';
import { Controller, Delete, Get, HttpCode, Param, Post, StreamableFile } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { categoryName, reportFileName, versionName } from '@padim-fleet/contracts';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import { ModelsService } from '../services/models.service';

@ApiTags('models')
@ApiBearerAuth()
@Controller('v1/models')
export class ModelsController {
  constructor(private readonly service: ModelsService) {}

  @Get()
  @ApiOperation({ summary: 'Categories with models, their current version and version count' })
  list() {
    return this.service.list();
  }

  @Get(':category')
  @ApiOperation({ summary: 'Versions of a category with their metrics and thresholds, and which is current' })
  get(@Param('category', new ZodValidationPipe(categoryName, 'category')) category: string) {
    return this.service.get(category);
  }

  @Get(':category/versions/:version/report/:file')
  @ApiOperation({ summary: "A file of a version's evaluation report (report.html, roc.png, pro.png, score-histograms.png, worst-cases.png), made when its run had a validation set" })
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
  promote(
    @Param('category', new ZodValidationPipe(categoryName, 'category')) category: string,
    @Param('version', new ZodValidationPipe(versionName, 'version')) version: string,
  ) {
    return this.service.promote(category, version);
  }

  @Delete(':category/versions/:version')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a version that is not current' })
  async remove(
    @Param('category', new ZodValidationPipe(categoryName, 'category')) category: string,
    @Param('version', new ZodValidationPipe(versionName, 'version')) version: string,
  ) {
    await this.service.remove(category, version);
  }
}
