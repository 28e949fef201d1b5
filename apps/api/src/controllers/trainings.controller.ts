import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { TrainingBatchRequest, TrainingRequest, runId, trainingBatchRequest, trainingRequest } from '@padim-fleet/contracts';
import { openApiSchema } from '../common/json-schema';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import { TrainingsService } from '../services/trainings.service';

@ApiTags('trainings')
@ApiBearerAuth()
@Controller('v1/trainings')
export class TrainingsController {
  constructor(private readonly service: TrainingsService) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({ summary: 'Train a model for one category (product line); returns the run id at once' })
  @ApiBody({ schema: openApiSchema(trainingRequest) })
  submit(@Body(new ZodValidationPipe(trainingRequest, 'body')) body: TrainingRequest) {
    return this.service.submit(body);
  }

  @Post('batch')
  @HttpCode(202)
  @ApiOperation({ summary: 'Train many categories at once; nothing is queued unless every run is valid' })
  @ApiBody({ schema: openApiSchema(trainingBatchRequest) })
  async submitBatch(@Body(new ZodValidationPipe(trainingBatchRequest, 'body')) body: TrainingBatchRequest) {
    return { runs: await this.service.submitBatch(body.runs) };
  }

  @Get(':id')
  @ApiOperation({ summary: 'State of a run: per-shard progress, timings, errors, and the model it made' })
  status(@Param('id', new ZodValidationPipe(runId, 'id')) id: string) {
    return this.service.status(id);
  }

  @Delete(':id')
  @HttpCode(202)
  @ApiOperation({ summary: 'Cancel a run; its jobs stop at their next batch and what it wrote is removed' })
  cancel(@Param('id', new ZodValidationPipe(runId, 'id')) id: string) {
    return this.service.cancel(id);
  }
}
