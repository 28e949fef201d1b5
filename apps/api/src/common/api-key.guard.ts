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
  const given = Buffer.from(match[1].trim());
  return keys.some((k) => k.length === given.length && timingSafeEqual(k, given)) ? null : 'invalid API key';
}
