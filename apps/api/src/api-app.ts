import 'reflect-metadata';
import { BadRequestException, HttpException, INestApplication, PayloadTooLargeException } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { API_KEY_RULE, type FleetConfig } from '@padim-fleet/contracts';
import { ApiMetrics, type FleetLogger, createFleetLogger } from '@padim-fleet/fleet';
import { json, type NextFunction, type Request, type Response } from 'express';
import { ApiModule } from './api.module';
import { bearerProblem } from './common/api-key.guard';
import { CONSOLE_DIST, consoleFiles } from './common/console-files';
import { httpLogger, nestLogger } from './common/http-logging';
import { httpMetrics } from './common/http-metrics';
import { ONLINE_SCORING_PATH } from './controllers/scoring.controller';
import { QUEUE_BOARD_PATH, QueueBoard, queueBoardHandlers } from './common/queue-board';

export interface ApiAppOptions {
  /** The process's logger; default one made from the configuration (stdout, LOG_LEVEL). */
  logger?: FleetLogger;
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
  const logger = opts.logger ?? createFleetLogger(config, 'api');
  const app = await NestFactory.create(ApiModule.forConfig(config, logger), { logger: nestLogger(logger), bodyParser: false });
  // First, so that every request is logged and counted: those the middleware below answer (a 413 body, the documentation's 401, the console's files) too.
  app.use(httpLogger(logger));
  app.use(
    httpMetrics(app.get(ApiMetrics), {
      staticRoutes: [
        ['/docs', DOCUMENTATION_PATH],
        ['/console', /^\/console(?:\/|$)/i],
        [QUEUE_BOARD_PATH, /^\/admin\/queues(?:\/|$)/i],
      ],
      onlineScoringRoute: `/${ONLINE_SCORING_PATH}`,
    }),
  );
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
  SwaggerModule.setup('docs', app, openApiDocument(app), { jsonDocumentUrl: 'docs/openapi.json', yamlDocumentUrl: 'docs/openapi.yaml' });
  return app;
}

/** The OpenAPI document of the app's routes: requests and responses from the contracts' zod schemas. */
export function openApiDocument(app: INestApplication): OpenAPIObject {
  return SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('padim-fleet')
      .setDescription('Visual anomaly detection (PaDiM): training runs per product line, the model registry, scoring.')
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
}

/** The body parser's errors as answers that name the body: over the limit is a 413, malformed a 400. */
function bodyReadingError(error: unknown): unknown {
  const e = error as { status?: unknown; type?: unknown; limit?: unknown; message?: unknown };
  if (e.type === 'entity.too.large') return new PayloadTooLargeException(`body: larger than ${String(e.limit)} bytes`);
  if (e.type === 'entity.parse.failed') return new BadRequestException(`body: not valid JSON (${String(e.message)})`);
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) return new HttpException(`body: ${String(e.message)}`, e.status);
  return error;
}
