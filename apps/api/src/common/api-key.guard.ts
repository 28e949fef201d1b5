import { CanActivate, ExecutionContext, Inject, Injectable, SetMetadata, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { FLEET_CONFIG } from './tokens';
import type { FleetConfig } from '@padim-fleet/contracts';

const PUBLIC_ROUTE = 'padim:public';
/** Routes anyone may call (health and readiness probes). */
export const Public = () => SetMetadata(PUBLIC_ROUTE, true);

/** Every route but the public ones needs `Authorization: Bearer <one of API_KEYS>`. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keys: Buffer[];

  constructor(
    private readonly reflector: Reflector,
    @Inject(FLEET_CONFIG) config: FleetConfig,
  ) {
    this.keys = config.API_KEYS.map((k) => Buffer.from(k));
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, [context.getHandler(), context.getClass()])) return true;
    const problem = bearerProblem(context.switchToHttp().getRequest<Request>().headers.authorization, this.keys);
    if (problem) throw new UnauthorizedException(problem);
    return true;
  }
}

/** Why an Authorization header does not carry one of `keys`, or null when it does. */
export function bearerProblem(header: string | undefined, keys: Buffer[]): string | null {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!match) return 'missing bearer token (Authorization: Bearer <API key>)';
  return isApiKey(match[1].trim(), keys) ? null : 'invalid API key';
}

/**
 * As `bearerProblem`, for pages a browser opens: a browser sends no header of its own on navigation, but it
 * asks for HTTP Basic credentials and sends them, so the key may also be the Basic password (any user name).
 */
export function basicOrBearerProblem(header: string | undefined, keys: Buffer[]): string | null {
  const basic = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!basic)
    return /^Bearer\s/i.test(header ?? '') ? bearerProblem(header, keys) : 'missing API key (HTTP Basic password, or Authorization: Bearer <API key>)';
  const credentials = Buffer.from(basic[1], 'base64').toString('utf8');
  const colon = credentials.indexOf(':');
  if (colon < 0) return 'malformed Basic credentials (expected base64 of <user>:<API key>)';
  return isApiKey(credentials.slice(colon + 1), keys) ? null : 'invalid API key';
}

/** Whether `given` is one of `keys`; each comparison takes the same time whatever the bytes (timing reveals no key). */
function isApiKey(given: string, keys: Buffer[]): boolean {
  const bytes = Buffer.from(given);
  return keys.some((k) => k.length === bytes.length && timingSafeEqual(k, bytes));
}
