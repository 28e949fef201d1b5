export type ArchiveFormat = 'zip' | 'tar' | 'tar.gz';

export const ARCHIVE_FORMATS: readonly ArchiveFormat[] = ['zip', 'tar', 'tar.gz'];

/** Bytes detectArchiveFormat() looks at: enough to reach the ustar magic at offset 257. */
export const ARCHIVE_HEAD_BYTES = 512;

const ZIP_LOCAL_HEADER = [0x50, 0x4b, 0x03, 0x04];
/** An empty zip is only an end-of-central-directory record. */
const ZIP_EMPTY_ARCHIVE = [0x50, 0x4b, 0x05, 0x06];
const GZIP = [0x1f, 0x8b];
const USTAR = [0x75, 0x73, 0x74, 0x61, 0x72]; // "ustar", followed by NUL (POSIX) or space (GNU)
const USTAR_OFFSET = 257;

function startsWith(head: Uint8Array, magic: readonly number[], offset = 0): boolean {
  if (head.length < offset + magic.length) return false;
  return magic.every((byte, i) => head[offset + i] === byte);
}

/**
 * Magic bytes in `head` decide first, since uploaded names are often wrong; the extension of `name` is the fallback.
 * A gzip stream is taken to be a tar.gz: that is the only compressed format this library reads.
 */
export function detectArchiveFormat(name: string, head?: Uint8Array): ArchiveFormat | null {
  if (head) {
    if (startsWith(head, ZIP_LOCAL_HEADER) || startsWith(head, ZIP_EMPTY_ARCHIVE)) return 'zip';
    if (startsWith(head, GZIP)) return 'tar.gz';
    if (startsWith(head, USTAR, USTAR_OFFSET)) return 'tar';
  }
  const lower = name.toLowerCase();
  if (lower.endsWith('.zip')) return 'zip';
  if (lower.endsWith('.tar.gz') || lower.endsWith('.tgz')) return 'tar.gz';
  if (lower.endsWith('.tar')) return 'tar';
  return null;
}
