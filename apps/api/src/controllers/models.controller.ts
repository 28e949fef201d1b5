import { Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { categoryName, versionName } from '@padim-fleet/contracts';
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
