import { z } from 'zod';

/** ?limit= of the listings (GET /v1/trainings, GET /v1/scorings): default 50, at most 1000. */
export const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(50) }).strict();
export type ListQuery = z.infer<typeof listQuery>;
