import { z } from 'zod';

/** One message per problem, each naming the field: `body.d: must be at most 448`. */
export class ContractError extends Error {
  override name = 'ContractError';
  constructor(
    readonly subject: string,
    readonly issues: { path: string; message: string }[],
  ) {
    super(`${subject} is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
  }
}

export function describeIssues(error: z.ZodError, root: string): { path: string; message: string }[] {
  return error.issues.map((issue) => ({
    path: [root, ...issue.path.map(String)].filter((s) => s !== '').join('.') || root,
    message: issue.message,
  }));
}

/** Parses `value` with `schema` or throws a ContractError naming each bad field under `root`. */
export function parseContract<S extends z.ZodType>(schema: S, value: unknown, subject: string, root = ''): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ContractError(subject, describeIssues(result.error, root));
  return result.data;
}
