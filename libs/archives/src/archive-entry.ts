/** A file inside an archive: `path` is relative, POSIX, normalised (no `.`, `..` or empty segments). */
export interface ArchiveEntry {
  path: string;
  /** Uncompressed size in bytes, as declared by the archive (and enforced while reading). */
  size: number;
}

/** A file entry with its bytes, as yielded by readArchiveEntries(). */
export interface ArchiveEntryData {
  path: string;
  data: Buffer;
}
