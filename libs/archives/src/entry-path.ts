/** Longest accepted entry path, in UTF-8 bytes (PATH_MAX on Linux). */
export const MAX_ENTRY_PATH_BYTES = 4096;
/** Longest accepted path segment, in UTF-8 bytes (NAME_MAX on common file systems). */
export const MAX_ENTRY_SEGMENT_BYTES = 255;

export type EntryPathCheck =
  | { ok: true; path: string; directory: boolean }
  /** `problem` completes a sentence that starts with the entry's name. */
  | { ok: false; problem: string };

// C0 controls (NUL included), DEL and C1 controls.
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
const WINDOWS_DRIVE = /^[A-Za-z]:/;

/**
 * Checks a raw entry name and normalises it: leading `./`, `.` segments and repeated slashes are dropped.
 * `directory` is true when the name ends with a slash. An archive root (`./`) normalises to the empty path;
 * callers accept that only for directory entries.
 */
export function checkEntryPath(raw: string): EntryPathCheck {
  if (raw.startsWith('/') || raw.startsWith('\\') || WINDOWS_DRIVE.test(raw)) return { ok: false, problem: 'is an absolute path' };
  if (CONTROL_CHARACTER.test(raw)) return { ok: false, problem: 'contains a NUL or control character' };
  if (raw.includes('\\')) return { ok: false, problem: 'contains a backslash' };
  const segments = raw.split('/');
  if (segments.includes('..')) return { ok: false, problem: 'contains a .. segment' };
  const kept = segments.filter((segment) => segment !== '' && segment !== '.');
  const path = kept.join('/');
  if (Buffer.byteLength(path) > MAX_ENTRY_PATH_BYTES) return { ok: false, problem: `is longer than ${MAX_ENTRY_PATH_BYTES} bytes` };
  if (kept.some((segment) => Buffer.byteLength(segment) > MAX_ENTRY_SEGMENT_BYTES)) {
    return { ok: false, problem: `has a path segment longer than ${MAX_ENTRY_SEGMENT_BYTES} bytes` };
  }
  return { ok: true, path, directory: raw.endsWith('/') };
}

/** Finder metadata (`__MACOSX/`, AppleDouble `._*`, `.DS_Store`): never images, so skipped rather than rejected. */
export function isMacOsMetadata(path: string): boolean {
  const segments = path.split('/');
  const base = segments[segments.length - 1] ?? '';
  return segments.includes('__MACOSX') || base === '.DS_Store' || base.startsWith('._');
}

/** An entry name quoted for an error message: JSON escapes keep control characters visible, long names are cut. */
export function describeEntry(name: string): string {
  const shown = name.length > 200 ? `${name.slice(0, 200)}…` : name;
  return `entry ${JSON.stringify(shown)}`;
}
