import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import type { OpenAPIObject } from '@nestjs/swagger';
import { apiError, loadFleetConfig, trainingStatus } from '@padim-fleet/contracts';
import { createFleetLogger } from '@padim-fleet/fleet';
import { createApiApp, openApiDocument } from './api-app';
import { openApiSchema } from './common/json-schema';

type Operation = { responses: Record<string, { content?: Record<string, { schema?: Record<string, unknown> }> }> };

let root: string;
let app: INestApplication;
let document: OpenAPIObject;
const operations: [string, Operation][] = [];

// The document is built from the app's routes without listening; Redis is a port nothing answers on (it is never asked).
beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'openapi-'));
  const config = loadFleetConfig({ API_KEYS: 'openapi-spec-key-Zr8Kq2Lm5Nw7Tb3X', PADIM_STORE: root, REDIS_URL: 'redis://127.0.0.1:1' });
  app = await createApiApp(config, { logger: createFleetLogger({ LOG_LEVEL: 'silent' }, 'api') });
  document = openApiDocument(app);
  for (const [route, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods as Record<string, Operation>)) operations.push([`${method.toUpperCase()} ${route}`, operation]);
  }
});
afterAll(async () => {
  await app?.close();
  await fs.rm(root, { recursive: true, force: true });
});

const statuses = (op: Operation) => Object.keys(op.responses).map(Number);

describe('the OpenAPI document', () => {
  it('has the routes of every controller', () => {
    const names = operations.map(([name]) => name);
    expect(names).toEqual(
      expect.arrayContaining([
        'GET /healthz',
        'GET /v1/health',
        'POST /v1/trainings',
        'GET /v1/trainings/{id}',
        'GET /v1/models/{category}',
        'POST /v1/models/{category}/versions/{version}/promote',
        'GET /v1/models/{category}/versions/{version}/archive',
        'POST /v1/models/{category}/score',
        'GET /v1/scorings',
        'GET /v1/scorings/{id}/files/{name}',
      ]),
    );
    expect(operations.length).toBeGreaterThanOrEqual(20);
  });

  it('gives every operation a success answer with a schema (204 excepted: it has no body)', () => {
    const missing = operations.filter(([, op]) => {
      const ok = statuses(op).filter((s) => s >= 200 && s < 300);
      if (ok.length !== 1) return true;
      if (ok[0] === 204) return op.responses['204'].content !== undefined;
      const content = op.responses[String(ok[0])].content ?? {};
      return Object.keys(content).length === 0 || Object.values(content).some((c) => !c.schema);
    });
    expect(missing.map(([name]) => name)).toEqual([]);
  });

  it('gives every operation error answers with the one error schema, 500 at least', () => {
    const errorSchema = openApiSchema(apiError, 'output');
    for (const [name, op] of operations) {
      const errors = statuses(op).filter((s) => s >= 400);
      expect([name, errors]).toEqual([name, expect.arrayContaining([500])]);
      // The health routes' 503 is their report, the same body as their 200.
      for (const status of errors.filter((s) => !(s === 503 && /health|readyz/.test(name)))) {
        expect([name, status, op.responses[String(status)].content?.['application/json']?.schema]).toEqual([name, status, errorSchema]);
      }
    }
  });

  it('declares the statuses each route can answer', () => {
    const byName = new Map(operations);
    expect(statuses(byName.get('POST /v1/trainings')!)).toEqual(expect.arrayContaining([202, 400, 401, 409, 413, 503]));
    expect(statuses(byName.get('GET /v1/trainings/{id}')!)).toEqual(expect.arrayContaining([200, 404]));
    expect(statuses(byName.get('POST /v1/models/{category}/score')!)).toEqual(expect.arrayContaining([200, 404, 413, 429]));
    expect(statuses(byName.get('GET /healthz')!)).not.toContain(401);
  });

  it("describes a response with its contract's JSON schema", () => {
    const op = operations.find(([name]) => name === 'GET /v1/trainings/{id}')![1];
    expect(op.responses['200'].content?.['application/json']?.schema).toEqual(openApiSchema(trainingStatus, 'output'));
    const archive = operations.find(([name]) => name === 'GET /v1/models/{category}/versions/{version}/archive')![1];
    expect(archive.responses['200'].content?.['application/x-tar']?.schema).toEqual({ type: 'string', format: 'binary' });
  });
});
