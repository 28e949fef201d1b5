import 'reflect-metadata';
import { BadRequestException, HttpException, INestApplication, LogLevel, PayloadTooLargeException } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { API_KEY_RULE, type FleetConfig } from '@padim-fleet/contracts';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { json, static as serveStatic, type NextFunction, type Request, type Response } from 'express';
import { ApiModule } from './api.module';
import { bearerProblem } from './common/api-key.guard';
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

/** The web console as `npm run build` leaves it (apps/console/dist), from apps/api/src or apps/api/dist alike. */
export const CONSOLE_DIST = path.resolve(__dirname, '../../console/dist');

/**
 * The console's pages run no inline code and talk to this origin only; images it shows from the API are
 * fetched with the key and shown as blob: URLs.
 */
const CONSOLE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/**
 * Serves the web console under /console: its files are public (they hold no data; every call they make
 * needs a key), hashed assets are cached for good, and any other path below /console is the app's
 * index.html, which routes in the browser. Without a build, /console says how to make one.
 */
function serveConsole(app: INestApplication, dist: string): void {
  const assets = serveStatic(dist, { index: false, fallthrough: true, setHeaders: (res) => res.setHeader('Cache-Control', 'public, max-age=31536000, immutable') });
  app.use('/console', (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    res.set(CONSOLE_HEADERS);
    const index = path.join(dist, 'index.html');
    if (!existsSync(index)) {
      res.status(404).json({ statusCode: 404, message: `the web console is not built (${index} is missing): run \`npm run build\`` });
      return;
    }
    const sendIndex = () => {
      res.set('Cache-Control', 'no-cache');
      res.sendFile(index);
    };
    if (!req.path.startsWith('/assets/')) return sendIndex();
    // A missing asset is a 404, not the index: a stale page must not run HTML as a script.
    assets(req, res, () => res.status(404).json({ statusCode: 404, message: `${req.originalUrl} not found` }));
  });
}

/** Builds the HTTP API (not yet listening): routes, auth, validation, OpenAPI at /docs. */
export async function createApiApp(config: FleetConfig, opts: ApiAppOptions = {}): Promise<INestApplication> {
  if (config.API_KEYS.length === 0) throw new Error(`API_KEYS is empty: set at least one API key (comma separated; ${API_KEY_RULE})`);
  const logger = opts.logger === false ? false : new RedactingLogger(config, opts.logger ?? ['log', 'warn', 'error']);
  const app = await NestFactory.create(ApiModule.forConfig(config), { logger, bodyParser: false });
  const readJson = json({ limit: MAX_JSON_BODY_BYTES });
  app.use((req: Request, res: Response, next: NextFunction) => readJson(req, res, (error?: unknown) => next(error === undefined ? undefined : bodyReadingError(error))));
  // The documentation is behind the API keys too: only /healthz and /readyz are public.
  const keys = config.API_KEYS.map((k) => Buffer.from(k));
  app.use((req: Request, res: Response, next: NextFunction) => {
    if (!DOCUMENTATION_PATH.test(req.path)) return next();
    const problem = bearerProblem(req.headers.authorization, keys);
    if (problem) res.status(401).json({ statusCode: 401, message: problem });
    else next();
  });
  serveConsole(app, CONSOLE_DIST);
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
