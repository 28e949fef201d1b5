import { z } from 'zod';
import type { FleetConfig } from './config/fleet-config';

/**
 * Top-level prefixes the fleet writes itself: published models, training runs, batch scorings, online
 * results and uploads (the store's key builders start from these). No input may point into them (or list them).
 */
export const STORE_ROOTS = { models: 'models/', runs: 'runs/', scorings: 'scorings/', scores: 'scores/', uploads: 'uploads/' } as const;
export const RESERVED_STORE_PREFIXES = Object.values(STORE_ROOTS);

export const S3_BUCKET_NAME_RULES =
  'S3 bucket names are 3-63 lowercase letters, digits, "." and "-", start and end with a letter or digit, have no ".." and are not an IP address';

/** Why `name` breaks S3's rules for bucket names (general purpose buckets), or null when it follows them. */
export function s3BucketNameProblem(name: string): string | null {
  const follows =
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) &&
    !name.includes('..') &&
    !/^\d{1,3}(\.\d{1,3}){3}$/.test(name) &&
    !/^(xn--|sthree-|amzn-s3-demo-)/.test(name) &&
    !/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name);
  return follows ? null : `${JSON.stringify(name)} is not a valid bucket name (${S3_BUCKET_NAME_RULES})`;
}

export const s3BucketName = z.string().superRefine((name, ctx) => {
  const problem = s3BucketNameProblem(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** `s3://bucket/key` → its bucket and key (maybe ''); null for anything that does not start with `s3://`. */
export function splitS3Location(location: string): { bucket: string; key: string } | null {
  if (!location.startsWith('s3://')) return null;
  const rest = location.slice('s3://'.length);
  const slash = rest.indexOf('/');
  return slash < 0 ? { bucket: rest, key: '' } : { bucket: rest.slice(0, slash), key: rest.slice(slash + 1) };
}

/** Why an `s3://` location is malformed (no bucket, or a name S3 would refuse), or null; other locations are not checked here. */
export function s3LocationProblem(location: string): string | null {
  const s3 = splitS3Location(location);
  if (!s3) return null;
  if (s3.bucket === '') return 'must name a bucket: s3://bucket/prefix';
  return s3BucketNameProblem(s3.bucket);
}

/** s3LocationProblem as a zod refinement: `.superRefine(checkS3Location)`. */
export function checkS3Location(location: string, ctx: z.RefinementCtx): void {
  const problem = s3LocationProblem(location);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}

/**
 * The forms a key may take for a store that reads it loosely, for comparison only: raw and
 * percent-decoded, backslashes as '/', empty and '.' segments dropped, '..' applied, lower case.
 */
function comparableForms(key: string): string[] {
  const spellings = new Set([key]);
  try {
    spellings.add(decodeURIComponent(key));
  } catch {
    // malformed percent-encoding: the raw spelling is the only one
  }
  return [...spellings].map((spelling) => {
    const segments: string[] = [];
    for (const segment of spelling.replace(/\\/g, '/').split('/')) {
      if (segment === '' || segment === '.') continue;
      if (segment === '..') segments.pop();
      else segments.push(segment);
    }
    return segments.join('/').toLowerCase();
  });
}

/**
 * True when `key`, as a prefix to list or an object to read, is in or above one of the reserved
 * prefixes under `storePrefix` (the store's own prefix in its bucket; '' for its root), whatever the spelling.
 */
export function touchesReservedPrefixes(key: string, storePrefix = ''): boolean {
  const [base] = comparableForms(storePrefix);
  const areas = RESERVED_STORE_PREFIXES.map((p) => (base === '' ? p.slice(0, -1) : `${base}/${p.slice(0, -1)}`));
  return comparableForms(key).some((form) => areas.some((area) => form === '' || form === area || form.startsWith(`${area}/`) || area.startsWith(`${form}/`)));
}

/** For `store:<key>` inputs: true when the key is outside the fleet's own bookkeeping (whatever its spelling). */
export function isUserStoreKey(location: string): boolean {
  if (!location.startsWith('store:')) return true;
  return !touchesReservedPrefixes(location.slice('store:'.length));
}

/**
 * Why a caller may not read `location` (a dataset or scoring input) with the server's credential, or
 * null: an `s3://` bucket must be listed in PADIM_S3_INPUT_BUCKETS (none listed: `s3://` is refused),
 * and neither it nor a `store:` key may reach the reserved prefixes of the store (PADIM_STORE).
 */
export function inputAccessProblem(location: string, config: Pick<FleetConfig, 'PADIM_S3_INPUT_BUCKETS' | 'PADIM_STORE'>): string | null {
  const reserved = `must not name the fleet's own prefixes (${RESERVED_STORE_PREFIXES.join(', ')})`;
  if (!isUserStoreKey(location)) return reserved;
  const input = splitS3Location(location);
  if (!input) return null;
  const malformed = s3LocationProblem(location);
  if (malformed) return malformed;
  if (config.PADIM_S3_INPUT_BUCKETS.length === 0) return 's3:// inputs are disabled: set PADIM_S3_INPUT_BUCKETS to the buckets callers may read';
  const bucket = input.bucket.toLowerCase();
  if (!config.PADIM_S3_INPUT_BUCKETS.some((b) => b.toLowerCase() === bucket)) return `bucket ${input.bucket} is not in PADIM_S3_INPUT_BUCKETS`;
  const store = splitS3Location(config.PADIM_STORE);
  if (store && store.bucket.toLowerCase() === bucket && touchesReservedPrefixes(input.key, store.key)) return `${reserved} of the store ${config.PADIM_STORE}`;
  return null;
}
