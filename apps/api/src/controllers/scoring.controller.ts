import { Body, Controller, Get, HttpCode, Param, Post, Query, StreamableFile, UploadedFile, UploadedFiles, UseGuards, UseInterceptors } from '@nestjs/common';
import { FileInterceptor, FilesInterceptor } from '@nestjs/platform-express';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { ScoringRequest, categoryName, onlineScoreQuery, runId, scoringRequest, versionName } from '@padim-fleet/contracts';
import { Idempotent } from '../common/idempotency.interceptor';
import { openApiSchema } from '../common/json-schema';
import { RedisReadyGuard } from '../common/redis-ready.guard';
import { ZodValidationPipe } from '../common/zod-validation.pipe';
import { ScoringService, UploadedImage } from '../services/scoring.service';

/** Online requests are small: at most this many images of this size each. */
const MAX_ONLINE_IMAGES = 64;
const MAX_ONLINE_IMAGE_BYTES = 64 * 1024 * 1024;
const outputName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,250}\.png$/, 'must be a PNG name from a result');
const resultFile = z.enum(['results.csv', 'results.jsonl', 'summary.json']);
const uploadFields = z.object({ category: categoryName, version: versionName.optional(), chunkSize: z.coerce.number().int().min(1).max(1024).default(64) }).strict();

function png(stream: NodeJS.ReadableStream): StreamableFile {
  return new StreamableFile(stream as Readable, { type: 'image/png' });
}

@ApiTags('scoring')
@ApiBearerAuth()
@Controller()
@UseGuards(RedisReadyGuard)
export class ScoringController {
  constructor(private readonly service: ScoringService) {}

  @Post('v1/models/:category/score')
  @HttpCode(200)
  @ApiOperation({ summary: 'Score uploaded images with a model (default: the current version); served by the score pool' })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ schema: { type: 'object', properties: { images: { type: 'array', items: { type: 'string', format: 'binary' } } } } })
  @UseInterceptors(FilesInterceptor('images', MAX_ONLINE_IMAGES, { limits: { fileSize: MAX_ONLINE_IMAGE_BYTES } }))
  score(
    @Param('category', new ZodValidationPipe(categoryName, 'category')) category: string,
    @Query(new ZodValidationPipe(onlineScoreQuery, 'query')) query: z.infer<typeof onlineScoreQuery>,
    @UploadedFiles() files: UploadedImage[],
  ) {
    return this.service.scoreOnline(category, files, query);
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
  @UseInterceptors(FileInterceptor('archive', { dest: tmpdir() }))
  submitUpload(@Body(new ZodValidationPipe(uploadFields, 'body')) body: z.infer<typeof uploadFields>, @UploadedFile() file: { path: string; originalname: string; size: number } | undefined) {
    return this.service.submitUpload(body, file);
  }

  @Get('v1/scorings/:id')
  @ApiOperation({ summary: 'State and progress of a batch scoring, and its outputs once done' })
  status(@Param('id', new ZodValidationPipe(runId, 'id')) id: string) {
    return this.service.status(id);
  }

  @Get('v1/scorings/:id/files/:name')
  @ApiOperation({ summary: 'results.csv, results.jsonl or summary.json of a finished scoring' })
  async file(@Param('id', new ZodValidationPipe(runId, 'id')) id: string, @Param('name', new ZodValidationPipe(resultFile, 'name')) name: z.infer<typeof resultFile>) {
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
