import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { apiError } from '@padim-fleet/contracts';
import type { z } from 'zod';
import { openApiSchema } from './json-schema';

/** What each error status means on this API; every one answers the `apiError` contract. */
const ERROR_MEANINGS: Record<number, string> = {
  400: 'Bad input: the message names it, `issues` lists each bad field',
  401: 'Missing or invalid API key',
  404: 'Not found',
  409: 'Conflict (an existing version, or an Idempotency-Key still in use)',
  413: 'Body over its limit',
  422: 'Idempotency-Key already used with a different request',
  429: 'Too many requests in progress; retry shortly',
  500: 'Internal error (logged)',
  502: 'The worker failed to score',
  503: 'Redis, the object store or the registry unavailable; retry later',
  504: 'No worker answered in time',
};

export type ErrorStatus = keyof typeof ERROR_MEANINGS;

/** The answer of a route: JSON of a contract, a file of a media type, or nothing (204). */
export type OkResponse =
  | { status: 200 | 201 | 202; schema: z.ZodType; description: string }
  | { status: 200; produces: string[]; description: string }
  | { status: 204; description: string };

/**
 * Declares a route's answers in the OpenAPI document from the contracts that type them: the success with
 * its schema, and each error status (plus 500, which any route may answer) with the error schema.
 */
export function ApiResponses(ok: OkResponse, errors: ErrorStatus[]): MethodDecorator {
  const decorators: (MethodDecorator & ClassDecorator)[] = [];
  if ('schema' in ok) decorators.push(ApiResponse({ status: ok.status, description: ok.description, schema: openApiSchema(ok.schema, 'output') }));
  else if ('produces' in ok) {
    const file = { schema: { type: 'string', format: 'binary' } };
    decorators.push(ApiResponse({ status: ok.status, description: ok.description, content: Object.fromEntries(ok.produces.map((type) => [type, file])) }));
  } else decorators.push(ApiResponse({ status: ok.status, description: ok.description }));
  const errorSchema = openApiSchema(apiError, 'output');
  for (const status of [...new Set([...errors, 500])].sort((a, b) => a - b)) {
    decorators.push(ApiResponse({ status, description: ERROR_MEANINGS[status], schema: errorSchema }));
  }
  return applyDecorators(...decorators);
}
