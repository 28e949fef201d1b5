import 'reflect-metadata';
import { BadRequestException, HttpException, INestApplication, LogLevel, PayloadTooLargeException } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { API_KEY_RULE, type FleetConfig } from '@padim-fleet/contracts';
import { json, type NextFunction, type Request, type Response } from 'express';
import { ApiModule } from './api.module';
import { bearerProblem } from './common/api-key.guard';
import { CONSOLE_DIST, consoleFiles } from './common/console-files';
import { QUEUE_BOARD_PATH, QueueBoard, queueBoardHandlers } from './common/queue-board';
import { RedactingLogger } from './common/redacting-logger';

export interface ApiAppOptions {
  logger?: LogLevel[] | false;
}

/** Largest JSON body read; larger ones are a 413 before anything is parsed. A batch of 100 runs fits easily. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024;

/**
 * Every documentation route: /docs and below, and Swagger's /docs-json and /docs-yaml. Express matches
 * routes without regard to case, so neither does this.
 */
const DOCUMENTATION_PATH = /^\/docs(?:[-./]|$)/i;

/** Builds the HTTP API (not yet listening): routes, auth, validation, OpenAPI at /docs. */
export async function createApiApp(config: FleetConfig, opts: ApiAppOptions = {}): Promise<INestApplication> {
  if (config.API_KEYS.length === 0) throw new Error(`API_KEYS is empty: set at least one API key (comma separated; ${API_KEY_RULE})`);
  const logger = opts.logger === false ? false : new RedactingLogger(config, opts.logger ?? ['log', 'warn', 'error']);
  const app = await NestFactory.create(ApiModule.forConfig(config), { logger, bodyParser: false });
  const readJson = json({ limit: MAX_JSON_BODY_BYTES });
  app.use((req: Request, res: Response, next: NextFunction) =>
    readJson(req, res, (error?: unknown) => next(error === undefined ? undefined : bodyReadingError(error))),
  );
  // The documentation is behind the API keys too: only /healthz and /readyz are public.
  const keys = config.API_KEYS.map((k) => Buffer.from(k));
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (!DOCUMENTATION_PATH.test(req.path)) return next();
    const problem = bearerProblem(req.headers.authorization, keys);
    if (problem) res.status(401).json({ statusCode: 401, message: problem });
    else next();
  });
  app.use('/console', consoleFiles(CONSOLE_DIST));
  app.use(QUEUE_BOARD_PATH, ...queueBoardHandlers(app.get(QueueBoard), keys));
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('padim-fleet')
      .setDescription('Visual anomaly detection (PaDiM): training runs per product line, the model registry, scoring.')
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json', yamlDocumentUrl: 'docs/openapi.yaml' });
  return app;
}

/** The body parser's errors as answers that name the body: over the limit is a 413, malformed a 400. */
function bodyReadingError(error: unknown): unknown {
  const e = error as { status?: unknown; type?: unknown; limit?: unknown; message?: unknown };
  if (e.type === 'entity.too.large') return new PayloadTooLargeException(`body: larger than ${String(e.limit)} bytes`);
  if (e.type === 'entity.parse.failed') return new BadRequestException(`body: not valid JSON (${String(e.message)})`);
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return new HttpException(`body: ${String(e.message)}`, e.status);
  return error;
}
