import 'reflect-metadata';
import { INestApplication, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { FleetConfig } from '@padim-fleet/contracts';
import { ApiModule } from './api.module';

export interface ApiAppOptions {
  logger?: LogLevel[] | false;
}

/** Builds the HTTP API (not yet listening): routes, auth, validation, OpenAPI at /docs. */
export async function createApiApp(config: FleetConfig, opts: ApiAppOptions = {}): Promise<INestApplication> {
  if (config.API_KEYS.length === 0) throw new Error('API_KEYS is empty: set at least one API key (comma separated, 16+ characters each)');
  const app = await NestFactory.create(ApiModule.forConfig(config), { logger: opts.logger ?? ['log', 'warn', 'error'], bodyParser: true });
  app.enableShutdownHooks();
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
