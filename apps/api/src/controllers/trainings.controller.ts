import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import {
  SubmittedTraining,
  SubmittedTrainingBatch,
  SubmittedTrainingUpload,
  TrainingBatchRequest,
  TrainingRequest,
  TrainingRunSummary,
  TrainingStatus,
  runId,
  submittedTraining,
  submittedTrainingBatch,
  submittedTrainingUpload,
  trainingRunList,
  trainingStatus,
  trainingBatchRequest,
  trainingRequest,
  trainingRequestBody,
  trainingUploadRequest,
} from '@padim-fleet/contracts';
import { ApiResponses } from '../common/api-responses';
import { Idempotent } from '../common/idempotency.interceptor';
import { ListQuery, listQuery } from '../common/list-query';
import { openApiSchema } from '../common/json-schema';
import { RedisReadyGuard } from '../common/redis-ready.guard';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import { TrainingsService } from '../services/trainings.service';

@ApiTags('trainings')
@ApiBearerAuth()
@Controller('v1/trainings')
@UseGuards(RedisReadyGuard)
export class TrainingsController {
  constructor(private readonly service: TrainingsService) {}

  @Post()
  @Idempotent()
  @HttpCode(202)
  @ApiOperation({ summary: 'Train a model for one category (product line); returns the run id at once' })
  @ApiBody({ schema: openApiSchema(trainingRequest) })
  @ApiResponses({ status: 202, schema: submittedTraining, description: 'The run is queued' }, [400, 401, 409, 413, 422, 503])
  submit(@Body(new ZodValidationPipe(trainingRequestBody, 'body')) body: TrainingRequest): Promise<SubmittedTraining> {
    return this.service.submit(body);
  }

  @Post('batch')
  @Idempotent()
  @HttpCode(202)
  @ApiOperation({ summary: 'Train many categories at once; nothing is queued unless every run is valid' })
  @ApiBody({ schema: openApiSchema(trainingBatchRequest) })
  @ApiResponses({ status: 202, schema: submittedTrainingBatch, description: 'Every run is queued' }, [400, 401, 409, 413, 422, 503])
  async submitBatch(@Body(new ZodValidationPipe(trainingBatchRequest, 'body')) body: TrainingBatchRequest): Promise<SubmittedTrainingBatch> {
    return { runs: await this.service.submitBatch(body.runs) };
  }

  @Post('upload')
  @Idempotent()
  @HttpCode(202)
  @ApiOperation({
    summary:
      'Train on an uploaded archive of images: multipart fields "request" (the training request as JSON, without dataset; send it first) and "archive"; 202 once the archive is stored, a job unpacks it',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ schema: { type: 'object', properties: { request: openApiSchema(trainingUploadRequest), archive: { type: 'string', format: 'binary' } } } })
  @ApiResponses({ status: 202, schema: submittedTrainingUpload, description: 'The archive is stored; the run is preparing' }, [400, 401, 409, 413, 422, 503])
  submitUpload(@Req() req: Request): Promise<SubmittedTrainingUpload> {
    return this.service.submitUpload(req);
  }

  @Get()
  @ApiOperation({ summary: 'The most recent runs, newest first (?limit=, default 50, at most 1000)' })
  @ApiResponses({ status: 200, schema: trainingRunList, description: 'The most recent runs' }, [400, 401, 503])
  list(@Query(new ZodValidationPipe(listQuery, 'query')) query: ListQuery): Promise<TrainingRunSummary[]> {
    return this.service.list(query.limit);
  }

  @Get(':id')
  @ApiOperation({ summary: 'State of a run: per-shard progress, timings, errors, and the model it made' })
  @ApiResponses({ status: 200, schema: trainingStatus, description: 'The run' }, [400, 401, 404, 503])
  status(@Param('id', new ZodValidationPipe(runId, 'id')) id: string): Promise<TrainingStatus> {
    return this.service.status(id);
  }

  @Delete(':id')
  @HttpCode(202)
  @ApiOperation({ summary: 'Cancel a run; its jobs stop at their next batch and what it wrote is removed' })
  @ApiResponses({ status: 202, schema: trainingStatus, description: 'The run, marked cancelled' }, [400, 401, 404, 503])
  cancel(@Param('id', new ZodValidationPipe(runId, 'id')) id: string): Promise<TrainingStatus> {
    return this.service.cancel(id);
  }
}
