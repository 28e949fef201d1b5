import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, StreamableFile, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { ScoringRequest, categoryName, onlineScoreQuery, runId, scoringRequest } from '@padim-fleet/contracts';
import { SCORING_OUTPUTS } from '@padim-fleet/storage';
import { Idempotent } from '../common/idempotency.interceptor';
import { ListQuery, listQuery } from '../common/list-query';
import { openApiSchema } from '../common/json-schema';
import { RedisReadyGuard } from '../common/redis-ready.guard';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import { OnlineScoringService } from '../services/online-scoring.service';
import { ScoringService } from '../services/scoring.service';

const outputName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,250}\.png$/, 'must be a PNG name from a result');
/** The result files a finished scoring serves, named as the scoring writes them. */
const resultFile = z.enum([SCORING_OUTPUTS.resultsCsv, SCORING_OUTPUTS.resultsJsonl, SCORING_OUTPUTS.summary]);

function png(stream: NodeJS.ReadableStream): StreamableFile {
  return new StreamableFile(stream as Readable, { type: 'image/png' });
}

@ApiTags('scoring')
@ApiBearerAuth()
@Controller()
@UseGuards(RedisReadyGuard)
export class ScoringController {
  constructor(
    private readonly service: ScoringService,
    private readonly online: OnlineScoringService,
  ) {}

  @Post('v1/models/:category/score')
  @HttpCode(200)
  @ApiOperation({ summary: 'Score uploaded images with a model (default: the current version); served by the score pool' })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ schema: { type: 'object', properties: { images: { type: 'array', items: { type: 'string', format: 'binary' } } } } })
  score(
    @Param('category', new ZodValidationPipe(categoryName, 'category')) category: string,
    @Query(new ZodValidationPipe(onlineScoreQuery, 'query')) query: z.infer<typeof onlineScoreQuery>,
    @Req() req: Request,
  ) {
    return this.online.score(category, query, req);
  }

  @Get('v1/scores/:requestId/:kind/:name')
  @ApiOperation({ summary: 'A heatmap overlay or mask PNG of an online scoring' })
  async onlineOutput(
    @Param('requestId', new ZodValidationPipe(runId, 'requestId')) requestId: string,
    @Param('kind', new ZodValidationPipe(z.enum(['heatmaps', 'masks']), 'kind')) kind: 'heatmaps' | 'masks',
    @Param('name', new ZodValidationPipe(outputName, 'name')) name: string,
  ) {
    return png(await this.service.onlineOutput(requestId, kind, name));
  }

  @Post('v1/scorings')
  @Idempotent()
  @HttpCode(202)
  @ApiOperation({ summary: 'Score an archive (.zip, .tar, .tar.gz) or a prefix of images in S3, in chunks across the score pool' })
  @ApiBody({ schema: openApiSchema(scoringRequest) })
  submit(@Body(new ZodValidationPipe(scoringRequest, 'body')) body: ScoringRequest) {
    return this.service.submit(body);
  }

  @Post('v1/scorings/upload')
  @Idempotent()
  @HttpCode(202)
  @ApiOperation({ summary: 'Score an uploaded archive (multipart field "archive", with fields category, version?, chunkSize?)' })
  @ApiConsumes('multipart/form-data')
  submitUpload(@Req() req: Request) {
    return this.service.submitUpload(req);
  }

  @Get('v1/scorings')
  @ApiOperation({ summary: 'The most recent batch scorings with their state and progress, newest first (?limit=, default 50, at most 1000)' })
  list(@Query(new ZodValidationPipe(listQuery, 'query')) query: ListQuery) {
    return this.service.list(query.limit);
  }

  @Get('v1/scorings/:id')
  @ApiOperation({ summary: 'State and progress of a batch scoring, and its outputs once done' })
  status(@Param('id', new ZodValidationPipe(runId, 'id')) id: string) {
    return this.service.status(id);
  }

  @Get('v1/scorings/:id/files/:name')
  @ApiOperation({ summary: 'results.csv, results.jsonl or summary.json of a finished scoring' })
  async file(
    @Param('id', new ZodValidationPipe(runId, 'id')) id: string,
    @Param('name', new ZodValidationPipe(resultFile, 'name')) name: z.infer<typeof resultFile>,
  ) {
    const type = name.endsWith('.csv') ? 'text/csv' : name.endsWith('.json') ? 'application/json' : 'application/x-ndjson';
    return new StreamableFile((await this.service.output(id, name)) as Readable, { type });
  }

  @Get('v1/scorings/:id/:kind/:name')
  @ApiOperation({ summary: 'A heatmap overlay or mask PNG of a batch scoring' })
  async output(
    @Param('id', new ZodValidationPipe(runId, 'id')) id: string,
    @Param('kind', new ZodValidationPipe(z.enum(['heatmaps', 'masks']), 'kind')) kind: 'heatmaps' | 'masks',
    @Param('name', new ZodValidationPipe(outputName, 'name')) name: string,
  ) {
    return png(await this.service.output(id, `${kind}/${name}`));
  }
}
