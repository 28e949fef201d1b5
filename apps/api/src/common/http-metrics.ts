import type { NextFunction, Request, Response } from 'express';
import type { ApiMetrics } from '@padim-fleet/fleet';

/** Paths served outside the router (static files, the documentation), each counted under one fixed route name. */
export type StaticRoutes = [name: string, path: RegExp][];

/**
 * Counts every answered request under the route pattern the router matched (`/v1/trainings/:id`), so the
 * labels stay few whatever the URLs; a path served outside the router gets its name from `staticRoutes`,
 * anything else (a 404, a body refused before routing) `unmatched`. A request whose client went away
 * before the answer ended has status `aborted`. Requests to `onlineScoringRoute` also feed the online
 * scoring latency histogram.
 */
export function httpMetrics(metrics: ApiMetrics, opts: { staticRoutes: StaticRoutes; onlineScoringRoute: string }) {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = process.hrtime.bigint();
    res.once('close', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = routeLabel(req, opts.staticRoutes);
      const status = res.writableFinished ? String(res.statusCode) : 'aborted';
      metrics.observeHttpRequest({ method: req.method, route, status, seconds });
      if (req.method === 'POST' && route === opts.onlineScoringRoute) metrics.onlineScoringSeconds.observe({ status }, seconds);
    });
    next();
  };
}

function routeLabel(req: Request, staticRoutes: StaticRoutes): string {
  const route = (req as { route?: { path?: unknown } }).route;
  if (typeof route?.path === 'string') return `${req.baseUrl}${route.path}`;
  // originalUrl: a mounted router rewrites req.url while it runs.
  const path = req.originalUrl.split('?')[0];
  return staticRoutes.find(([, pattern]) => pattern.test(path))?.[0] ?? 'unmatched';
}
