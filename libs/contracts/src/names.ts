import { z } from 'zod';

/** Product-line names end up in storage keys and URLs: a short, plain token, never a path. */
export const CATEGORY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const categoryName = z
  .string()
  .regex(CATEGORY_PATTERN, 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit (no slashes, no "..")');

export const versionName = z.string().regex(CATEGORY_PATTERN, 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');

export const runId = z.string().regex(/^[A-Za-z0-9-]{8,64}$/, 'must be a run id');

/** Top-level prefixes the fleet writes itself; `store:` inputs may not point into them. */
export const RESERVED_STORE_PREFIXES = ['models/', 'runs/', 'scorings/', 'scores/', 'uploads/'] as const;

/** For `store:<key>` inputs: true when the key is outside the fleet's own bookkeeping. */
export function isUserStoreKey(location: string): boolean {
  if (!location.startsWith('store:')) return true;
  const key = location.slice('store:'.length);
  return !RESERVED_STORE_PREFIXES.some((p) => key === p.slice(0, -1) || key.startsWith(p));
}
