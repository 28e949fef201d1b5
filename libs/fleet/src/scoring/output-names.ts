import { createHash } from 'node:crypto';

/** Output names stay well under NAME_MAX (255 bytes) and short enough to read in a listing. */
export const MAX_OUTPUT_NAME_LENGTH = 120;
const HASH_LENGTH = 12;
const SUFFIX = '.png';
/** What a hashed name ends with; an input that already looks like one is hashed again, so the two kinds cannot meet. */
const HASHED = new RegExp(`-[0-9a-f]{${HASH_LENGTH}}\\${SUFFIX}$`);

function shortHash(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex').slice(0, HASH_LENGTH);
}

/**
 * A flat, safe PNG file name for an input's heatmap or mask: path separators become `__`, the extension
 * becomes `.png`, characters outside [A-Za-z0-9._-] become `_`, leading dots go, and long names are cut.
 * A name that is already safe, flat, short and ends in `.png` is kept as it is; any other gets a hash of
 * the whole input name, so `a/b.png`, `a__b.png` and `a/b.jpg` all get different names.
 */
export function outputPngName(file: string): string {
  const segments = file.split(/[\\/]/);
  const last = segments.pop() ?? '';
  const dot = last.lastIndexOf('.');
  const stem = [...segments, dot > 0 ? last.slice(0, dot) : last].join('__');
  let clean = stem.replace(/[^A-Za-z0-9._-]/gu, '_').replace(/^\.+/, '');
  if (clean === '') clean = 'image';
  const plain = clean + SUFFIX;
  if (plain === file && plain.length <= MAX_OUTPUT_NAME_LENGTH && !HASHED.test(plain)) return plain;
  const room = MAX_OUTPUT_NAME_LENGTH - 1 - HASH_LENGTH - SUFFIX.length;
  return `${clean.slice(0, room)}-${shortHash(file)}${SUFFIX}`;
}
