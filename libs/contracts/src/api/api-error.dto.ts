import { z } from 'zod';

/**
 * The body of every 4xx and 5xx answer: the status again, a message that names the bad input, and for
 * contract failures one issue per bad field (`path` like `body.runs.0.d`).
 */
export const apiError = z.object({
  statusCode: z.number().int(),
  message: z.string(),
  /** The status's name, e.g. 'Bad Request' (set by some answers). */
  error: z.string().optional(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type ApiError = z.infer<typeof apiError>;
