import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, StreamableFile, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { Readable } from 'node:stream';
import { z } from 'zod';
import {
  OnlineScoreResponse,
  ScoringRequest,
  ScoringStatus,
  SubmittedScoring,
  categoryName,
  onlineScoreQuery,
  onlineScoreResponse,
  runId,
  scoringRequest,
  scoringStatus,
  scoringStatusList,
  submittedScoring,
} from '@padim-fleet/contracts';
import { ApiResponses } from '../common/api-responses';
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

/** The online scoring route; its requests also feed `padim_online_scoring_seconds`. */
export const ONLINE_SCORING_PATH = 'v1/models/:category/score';

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

  @Post(ONLINE_SCORING_PATH)
  @HttpCode(200)
  @ApiOperation({ summary: 'Score uploaded images with a model (default: the current version); served by the score pool' })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ schema: { type: 'object', properties: { images: { type: 'array', items: { type: 'string', format: 'binary' } } } } })
  @ApiResponses({ status: 200, schema: onlineScoreResponse, description: 'A score and label per image' }, [400, 401, 404, 413, 429, 502, 503, 504])
  score(
    @Param('category', new ZodValidationPipe(categoryName, 'category')) category: string,
    @Query(new ZodValidationPipe(onlineScoreQuery, 'query')) query: z.infer<typeof onlineScoreQuery>,
    @Req() req: Request,
  ): Promise<OnlineScoreResponse> {
    return this.online.score(category, query, req);
  }

  @Get('v1/scores/:requestId/:kind/:name')
  @ApiOperation({ summary: 'A heatmap overlay or mask PNG of an online scoring' })
  @ApiResponses({ status: 200, produces: ['image/png'], description: 'The PNG' }, [400, 401, 404, 503])
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
  @ApiResponses({ status: 202, schema: submittedScoring, description: 'The scoring is queued' }, [400, 401, 404, 409, 413, 422, 503])
  submit(@Body(new ZodValidationPipe(scoringRequest, 'body')) body: ScoringRequest): Promise<SubmittedScoring> {
    return this.service.submit(body);
  }

  @Post('v1/scorings/upload')
  @Idempotent()
  @HttpCode(202)
  @ApiOperation({ summary: 'Score an uploaded archive (multipart field "archive", with fields category, version?, chunkSize?, callbackUrl?)' })
  @ApiConsumes('multipart/form-data')
  @ApiResponses({ status: 202, schema: submittedScoring, description: 'The archive is stored; the scoring is queued' }, [400, 401, 404, 409, 413, 422, 503])
  submitUpload(@Req() req: Request): Promise<SubmittedScoring> {
    return this.service.submitUpload(req);
  }

  @Get('v1/scorings')
  @ApiOperation({ summary: 'The most recent batch scorings with their state and progress, newest first (?limit=, default 50, at most 1000)' })
  @ApiResponses({ status: 200, schema: scoringStatusList, description: 'The most recent scorings' }, [400, 401, 503])
  list(@Query(new ZodValidationPipe(listQuery, 'query')) query: ListQuery): Promise<ScoringStatus[]> {
    return this.service.list(query.limit);
  }

  @Get('v1/scorings/:id')
  @ApiOperation({ summary: 'State and progress of a batch scoring, and its outputs once done' })
  @ApiResponses({ status: 200, schema: scoringStatus, description: 'The scoring' }, [400, 401, 404, 503])
  status(@Param('id', new ZodValidationPipe(runId, 'id')) id: string): Promise<ScoringStatus> {
    return this.service.status(id);
  }

  @Get('v1/scorings/:id/files/:name')
  @ApiOperation({ summary: 'results.csv, results.jsonl or summary.json of a finished scoring' })
  @ApiResponses({ status: 200, produces: ['text/csv', 'application/x-ndjson', 'application/json'], description: 'The file' }, [400, 401, 404, 503])
  async file(
    @Param('id', new ZodValidationPipe(runId, 'id')) id: string,
    @Param('name', new ZodValidationPipe(resultFile, 'name')) name: z.infer<typeof resultFile>,
  ) {
    const type = name.endsWith('.csv') ? 'text/csv' : name.endsWith('.json') ? 'application/json' : 'application/x-ndjson';
    return new StreamableFile((await this.service.output(id, name)) as Readable, { type });
  }

  @Get('v1/scorings/:id/:kind/:name')
  @ApiOperation({ summary: 'A heatmap overlay or mask PNG of a batch scoring' })
  @ApiResponses({ status: 200, produces: ['image/png'], description: 'The PNG' }, [400, 401, 404, 503])
  async output(
    @Param('id', new ZodValidationPipe(runId, 'id')) id: string,
    @Param('kind', new ZodValidationPipe(z.enum(['heatmaps', 'masks']), 'kind')) kind: 'heatmaps' | 'masks',
    @Param('name', new ZodValidationPipe(outputName, 'name')) name: string,
  ) {
    return png(await this.service.output(id, `${kind}/${name}`));
  }
}
