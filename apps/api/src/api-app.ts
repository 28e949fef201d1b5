import 'reflect-metadata';
import { INestApplication, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { FleetConfig } from '@padim-fleet/contracts';
import type { NextFunction, Request, Response } from 'express';
import { ApiModule } from './api.module';
import { bearerProblem } from './common/api-key.guard';

export interface ApiAppOptions {
  logger?: LogLevel[] | false;
}

/** Builds the HTTP API (not yet listening): routes, auth, validation, OpenAPI at /docs. */
export async function createApiApp(config: FleetConfig, opts: ApiAppOptions = {}): Promise<INestApplication> {
  if (config.API_KEYS.length === 0) throw new Error('API_KEYS is empty: set at least one API key (comma separated, 16+ characters each)');
  const app = await NestFactory.create(ApiModule.forConfig(config), { logger: opts.logger ?? ['log', 'warn', 'error'], bodyParser: true });
  // The documentation is behind the API keys too: only /healthz and /readyz are public.
  const keys = config.API_KEYS.map((k) => Buffer.from(k));
  app.use('/docs', (req: Request, res: Response, next: NextFunction) => {
    const problem = bearerProblem(req.headers.authorization, keys);
    if (problem) res.status(401).json({ statusCode: 401, message: problem });
    else next();
  });
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('padim-fleet')
      .setDescription('Visual anomaly detection (PaDiM): training runs per product line, the model registry, scoring.')
      .setVersion('1')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });
  return app;
}
