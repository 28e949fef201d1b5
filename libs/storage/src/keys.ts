import { STORE_ROOTS } from '@padim-fleet/contracts';

/**
 * Object keys are '/'-separated paths that must mean the same thing in a local folder and in S3:
 * no traversal ('..'), no absolute or empty segments, nothing a file system or a log would mangle.
 */

export const MAX_KEY_BYTES = 1024;
export const MAX_NAME_LENGTH = 64;

export class InvalidKeyError extends Error {
  override readonly name = 'InvalidKeyError';
}

function quote(value: string): string {
  return JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value);
}

function fail(what: string, value: string, problem: string): never {
  throw new InvalidKeyError(`${what} ${quote(value)}: ${problem}`);
}

// C0 controls, DEL and C1 controls.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// A surrogate half without its partner has no UTF-8 encoding.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function checkPath(value: string, what: string, display: string): void {
  if (value.includes('\\')) fail(what, display, 'backslashes are not allowed');
  if (CONTROL.test(value)) fail(what, display, 'control characters are not allowed');
  if (LONE_SURROGATE.test(value)) fail(what, display, 'not valid Unicode (unpaired surrogate)');
  if (value.startsWith('/')) fail(what, display, "must not start with '/'");
  if (value.endsWith('/')) fail(what, display, "must not end with '/'");
  for (const segment of value.split('/')) {
    if (segment === '') fail(what, display, "empty segment ('//') is not allowed");
    if (segment === '.' || segment === '..') fail(what, display, `segment "${segment}" is not allowed`);
  }
}

/** Returns `key` when it is a valid object key; throws InvalidKeyError naming `what` and the problem. */
export function validateKey(key: string, what = 'key'): string {
  if (typeof key !== 'string') throw new InvalidKeyError(`${what} must be a string, got ${typeof key}`);
  if (key === '') fail(what, key, 'must not be empty');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) fail(what, key, `longer than ${MAX_KEY_BYTES} bytes of UTF-8`);
  checkPath(key, what, key);
  return key;
}

/** Like validateKey, but '' (everything) and a trailing '/' are allowed. */
export function validatePrefix(prefix: string, what = 'prefix'): string {
  if (typeof prefix !== 'string') throw new InvalidKeyError(`${what} must be a string, got ${typeof prefix}`);
  if (prefix === '') return prefix;
  if (Buffer.byteLength(prefix, 'utf8') > MAX_KEY_BYTES) fail(what, prefix, `longer than ${MAX_KEY_BYTES} bytes of UTF-8`);
  const body = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  if (body === '') fail(what, prefix, "must not be '/' alone (use '' for everything)");
  checkPath(body, what, prefix);
  return prefix;
}

const NAME = /^[A-Za-z0-9._-]+$/;

function validateName(value: string, what: string, maxLength: number): string {
  if (typeof value !== 'string') throw new InvalidKeyError(`${what} must be a string, got ${typeof value}`);
  if (value === '') fail(what, value, 'must not be empty');
  if (value.length > maxLength) fail(what, value, `longer than ${maxLength} characters`);
  if (!NAME.test(value)) fail(what, value, 'only letters, digits, ".", "_" and "-" are allowed');
  if (!/^[A-Za-z0-9]/.test(value)) fail(what, value, 'must start with a letter or digit');
  return value;
}

/** A product-line name: 1-64 of [A-Za-z0-9._-], starting with a letter or digit. */
export function validateCategory(name: string): string {
  return validateName(name, 'category', MAX_NAME_LENGTH);
}

/** A model version: same rules as a category; "current.json" would collide with the pointer file. */
export function validateVersion(version: string): string {
  validateName(version, 'version', MAX_NAME_LENGTH);
  if (version === 'current.json') fail('version', version, 'reserved for the current-version pointer');
  return version;
}

/** A training run id: same rules as a category. */
export function validateRunId(runId: string): string {
  return validateName(runId, 'run id', MAX_NAME_LENGTH);
}

export function modelsRoot(): string {
  return STORE_ROOTS.models;
}

export function modelCategoryPrefix(category: string): string {
  return `${STORE_ROOTS.models}${validateCategory(category)}/`;
}

export function modelVersionPrefix(category: string, version: string): string {
  return `${modelCategoryPrefix(category)}${validateVersion(version)}/`;
}

export function modelCurrentKey(category: string): string {
  return `${modelCategoryPrefix(category)}current.json`;
}

export function runPrefix(runId: string): string {
  return `${STORE_ROOTS.runs}${validateRunId(runId)}/`;
}

/** Everything a run's jobs need, written once before its flow is queued. */
export function runPlanKey(runId: string): string {
  return `${runPrefix(runId)}plan.json`;
}

/** An uploaded training archive, before it is unpacked. */
export function runUploadPrefix(runId: string): string {
  return `${runPrefix(runId)}upload/`;
}

/** The images unpacked from a run's uploaded archive. */
export function runImagesPrefix(runId: string): string {
  return `${runPrefix(runId)}images/`;
}

/** What a one-shard run's extract job fits and stores, for its reducer to publish. */
export function runFittedPrefix(runId: string): string {
  return `${runPrefix(runId)}fitted/`;
}

export function runPartialKey(runId: string, shard: number): string {
  if (!Number.isSafeInteger(shard) || shard < 0) {
    throw new InvalidKeyError(`shard ${String(shard)}: must be a non-negative integer`);
  }
  return `${runPrefix(runId)}partials/shard-${String(shard).padStart(4, '0')}.pdmacc`;
}

export function scoringPrefix(scoringId: string): string {
  return `${STORE_ROOTS.scorings}${scoringId}/`;
}

export function scoringPlanKey(scoringId: string): string {
  return `${scoringPrefix(scoringId)}plan.json`;
}

/** The chunks' rows, until the scoring's results are assembled from them. */
export function scoringChunksPrefix(scoringId: string): string {
  return `${scoringPrefix(scoringId)}chunks/`;
}

export function scoringChunkKey(scoringId: string, chunk: number): string {
  return `${scoringChunksPrefix(scoringId)}chunk-${String(chunk).padStart(5, '0')}.jsonl`;
}

/** The files unpacked from a scoring's archive. */
export function scoringInputPrefix(scoringId: string): string {
  return `${scoringPrefix(scoringId)}input/`;
}

/** An archive uploaded through the API, before it is unpacked. */
export function scoringUploadPrefix(scoringId: string): string {
  return `${scoringPrefix(scoringId)}upload/`;
}

/** What a scoring leaves under its prefix (or an output folder): the results, and a folder each of overlay and mask PNGs. */
export const SCORING_OUTPUTS = {
  resultsCsv: 'results.csv',
  resultsJsonl: 'results.jsonl',
  summary: 'summary.json',
  heatmaps: 'heatmaps/',
  masks: 'masks/',
} as const;

/** Uploaded images of an online request (and files staged by an import). */
export function uploadPrefix(requestId: string): string {
  return `${STORE_ROOTS.uploads}${requestId}/`;
}

/** Where an online request's PNGs go. */
export function onlineOutputPrefix(requestId: string): string {
  return `${STORE_ROOTS.scores}${requestId}/`;
}
