import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { ArchiveRejectedError } from '@padim-fleet/archives';
import { ContractError } from '@padim-fleet/contracts';
import { DatasetError, isRedisUnavailableError } from '@padim-fleet/fleet';
import { ModelFormatError } from '@padim-fleet/padim-core';
import {
  InvalidKeyError,
  ModelConflictError,
  ModelIntegrityError,
  ModelNotFoundError,
  ModelRegistryBusyError,
  SizeLimitError,
  StoreUnavailableError,
} from '@padim-fleet/storage';

/** Seconds a client is told to wait before retrying a 503: Redis reconnects within 2 s, the registry lock waits up to 10 s. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * Maps the libraries' errors to HTTP: bad input 400, missing 404, conflicts 409, too large 413, a busy
 * registry, Redis or the store unreachable 503 (with Retry-After, as every 503 here); anything else is a 500
 * that is logged.
 */
@Catch()
export class DomainErrorsFilter implements ExceptionFilter {
  private readonly logger = new Logger('api');

  catch(error: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (error instanceof HttpException) {
      const body = error.getResponse();
      if (error.getStatus() === 503) res.set('Retry-After', String(RETRY_AFTER_SECONDS));
      res.status(error.getStatus()).json(typeof body === 'string' ? { statusCode: error.getStatus(), message: body } : body);
      return;
    }
    if (isRedisUnavailableError(error)) {
      this.logger.warn(`redis unavailable: ${(error as Error).message}`);
      res.status(503).set('Retry-After', String(RETRY_AFTER_SECONDS)).json({ statusCode: 503, message: 'redis unavailable; retry later' });
      return;
    }
    if (error instanceof StoreUnavailableError) {
      this.logger.warn(`store unavailable: ${error.message}`);
      res.status(503).set('Retry-After', String(RETRY_AFTER_SECONDS)).json({ statusCode: 503, message: 'the object store is unavailable; retry later' });
      return;
    }
    const status = statusOf(error);
    if (status === 500) this.logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    const message = status === 500 ? 'internal error' : (error as Error).message;
    const issues = error instanceof ContractError ? error.issues : undefined;
    if (status === 503) res.set('Retry-After', String(RETRY_AFTER_SECONDS));
    res.status(status).json({ statusCode: status, message, ...(issues ? { issues } : {}) });
  }
}

function statusOf(error: unknown): number {
  if (error instanceof ContractError || error instanceof DatasetError || error instanceof InvalidKeyError || error instanceof ArchiveRejectedError) return 400;
  if (error instanceof ModelNotFoundError) return 404;
  if (error instanceof ModelConflictError) return 409;
  if (error instanceof ModelRegistryBusyError) return 503;
  if (error instanceof SizeLimitError) return 413;
  if (error instanceof ModelIntegrityError || error instanceof ModelFormatError) return 500;
  return 500;
}
