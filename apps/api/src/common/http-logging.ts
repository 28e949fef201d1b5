import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request } from 'express';
import { Logger as PinoNestLogger, PinoLogger } from 'nestjs-pino';
import { type HttpLogger, type Options, pinoHttp } from 'pino-http';
import type { FleetLogger } from '@padim-fleet/fleet';

/** The public probes: polled every few seconds, so their successes are debug lines. */
const PROBE_PATHS = new Set(['/healthz', '/readyz']);

/** Nest's own start-up lines (each module loaded, each route mapped) are debug lines, not info. */
const NEST_START_UP_CONTEXTS = new Set(['NestFactory', 'InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestApplication']);

/**
 * What the line of a finished request says: method, route (the matched pattern, e.g.
 * `/v1/trainings/:id`; absent when no route matched), url, status and milliseconds. Never its headers,
 * so neither the Authorization header nor an API key.
 */
function requestFields(req: IncomingMessage, res: ServerResponse, ms: number): Record<string, unknown> {
  const r = req as Partial<Request>;
  const route = r.route?.path;
  return {
    method: req.method,
    ...(typeof route === 'string' ? { route: `${r.baseUrl ?? ''}${route}` } : {}),
    url: r.originalUrl ?? req.url,
    status: res.statusCode,
    ms,
  };
}

/**
 * pino-http on the API's logger: one line per request when its response ends (5xx error, 4xx warn,
 * the rest info, the probes debug), with a `reqId` that the lines logged while serving it carry too.
 */
export function httpLogger(logger: FleetLogger): HttpLogger {
  const options: Options = {
    logger,
    genReqId: () => randomUUID(),
    // The request's own lines carry only its reqId; the request line says the rest (requestFields).
    quietReqLogger: true,
    quietResLogger: true,
    customLogLevel: (req, res, error) => {
      if (error || res.statusCode >= 500) return 'error';
      if (res.statusCode >= 400) return 'warn';
      return PROBE_PATHS.has((req.url ?? '').split('?')[0]) ? 'debug' : 'info';
    },
    customSuccessObject: (req, res, value: { responseTime: number }) => requestFields(req, res, value.responseTime),
    customErrorObject: (req, res, _error, value: { responseTime: number }) => requestFields(req, res, value.responseTime),
    customSuccessMessage: (req, res) => `${req.method} ${(req as Partial<Request>).originalUrl ?? req.url} ${res.statusCode}`,
    customErrorMessage: (req, res) => `${req.method} ${(req as Partial<Request>).originalUrl ?? req.url} ${res.statusCode}`,
  };
  return pinoHttp(options);
}

/** nestjs-pino's logger for Nest itself, with Nest's start-up chatter at debug. */
class FleetNestLogger extends PinoNestLogger {
  override log(message: unknown, ...optionalParams: unknown[]): void {
    const context = optionalParams[optionalParams.length - 1];
    if (typeof context === 'string' && NEST_START_UP_CONTEXTS.has(context)) super.debug(message, ...optionalParams);
    else super.log(message, ...optionalParams);
  }
}

/** The logger Nest is created with: its lines and `new Logger('api')`'s go to `logger`, within a request through that request's logger. */
export function nestLogger(logger: FleetLogger): PinoNestLogger {
  return new FleetNestLogger(new PinoLogger({ pinoHttp: { logger } }), {});
}
