import { z } from 'zod';

/** GET /healthz: the process answers. */
export const liveness = z.object({ status: z.literal('ok') });

/** GET /readyz: ready or not, nothing more (it is public). */
export const readiness = z.object({ status: z.enum(['ready', 'not ready']) });

/** GET /v1/health: the details behind readiness, for authenticated callers and the logs (also the body of its 503). */
export const healthReport = z.object({
  status: z.enum(['ready', 'not ready']),
  redis: z.string(),
  evictionPolicy: z.string(),
  store: z.string(),
});
export type HealthReport = z.infer<typeof healthReport>;
