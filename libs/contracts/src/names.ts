import { z } from 'zod';

/** Product-line names end up in storage keys and URLs: a short, plain token, never a path. */
export const CATEGORY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const categoryName = z
  .string()
  .regex(CATEGORY_PATTERN, 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit (no slashes, no "..")');

export const versionName = z.string().regex(CATEGORY_PATTERN, 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');

export const runId = z.string().regex(/^[A-Za-z0-9-]{8,64}$/, 'must be a run id');

/** A file of a model version's evaluation report: report.html or one of its PNGs. */
export const reportFileName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}\.(html|png)$/, 'must be report.html or a PNG of the report (e.g. roc.png)');
