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
  const clean = cleanStem(file);
  const plain = clean + SUFFIX;
  if (plain === file && plain.length <= MAX_OUTPUT_NAME_LENGTH && !HASHED.test(plain)) return plain;
  return hashedPngName(clean, file);
}

/**
 * One PNG name per input, in order, no two alike: outputPngName of each, except that an input whose name is
 * already taken (inputs of the same name are normal: one file name per camera frame) gets a hash of its name
 * and its position instead. Positions make the names the same on every call with the same inputs, so a retry
 * writes over its own PNGs.
 */
export function distinctOutputPngNames(files: string[]): string[] {
  const taken = new Set<string>();
  return files.map((file, index) => {
    let name = outputPngName(file);
    for (let attempt = 0; taken.has(name); attempt++) name = hashedPngName(cleanStem(file), `${file}\u0000${index}\u0000${attempt}`);
    taken.add(name);
    return name;
  });
}

/** The input's path flattened and made safe, without its extension. */
function cleanStem(file: string): string {
  const segments = file.split(/[\\/]/);
  const last = segments.pop() ?? '';
  const dot = last.lastIndexOf('.');
  const stem = [...segments, dot > 0 ? last.slice(0, dot) : last].join('__');
  const clean = stem.replace(/[^A-Za-z0-9._-]/gu, '_').replace(/^\.+/, '');
  return clean === '' ? 'image' : clean;
}

function hashedPngName(clean: string, hashed: string): string {
  const room = MAX_OUTPUT_NAME_LENGTH - 1 - HASH_LENGTH - SUFFIX.length;
  return `${clean.slice(0, room)}-${shortHash(hashed)}${SUFFIX}`;
}
