import type { ArchiveEntry } from './archive-entry';
import type { ArchiveLimits } from './archive-limits';
import { ArchiveRejectedError } from './archive-rejected-error';
import { checkEntryPath, describeEntry, isMacOsMetadata } from './entry-path';

export type EntryKind = 'file' | 'directory' | 'symlink' | 'hardlink' | 'device' | 'fifo' | 'unsupported';

/** One directory record as the format reader saw it, before any checks. */
export interface RawEntry {
  name: string;
  kind: EntryKind;
  size: number;
  /** For 'unsupported': what the entry is, e.g. "tar type flag V". */
  detail?: string;
}

const KIND_PROBLEMS: Record<Exclude<EntryKind, 'file' | 'directory' | 'unsupported'>, string> = {
  symlink: 'is a symbolic link; links are not allowed',
  hardlink: 'is a hard link; links are not allowed',
  device: 'is a device node; only files and directories are allowed',
  fifo: 'is a FIFO; only files and directories are allowed',
};

/**
 * The checks shared by all formats, applied to entries in archive order: path safety, entry type,
 * declared sizes against the limits, duplicate paths and file/directory clashes.
 */
export class EntryValidator {
  private entryCount = 0;
  private declaredBytes = 0;
  private readonly files = new Set<string>();
  private readonly directories = new Set<string>();

  constructor(
    private readonly label: string,
    private readonly limits: ArchiveLimits,
  ) {}

  reject(reason: string): never {
    throw new ArchiveRejectedError(this.label, reason);
  }

  /** Returns the file entry, or null for directories and macOS metadata (skipped, not rejected). Throws ArchiveRejectedError. */
  accept(raw: RawEntry): ArchiveEntry | null {
    this.entryCount += 1;
    if (this.entryCount > this.limits.maxEntries) this.reject(`more than ${this.limits.maxEntries} entries`);

    const checked = checkEntryPath(raw.name);
    if (!checked.ok) this.reject(`${describeEntry(raw.name)} ${checked.problem}`);
    const shown = describeEntry(checked.path || raw.name);

    switch (raw.kind) {
      case 'file':
        break;
      case 'directory':
        if (checked.path !== '') this.addDirectory(checked.path, shown);
        return null;
      case 'unsupported':
        return this.reject(`${shown} has an unsupported entry type${raw.detail ? ` (${raw.detail})` : ''}`);
      default:
        return this.reject(`${shown} ${KIND_PROBLEMS[raw.kind]}`);
    }

    if (checked.path === '') this.reject(`${describeEntry(raw.name)} is a file whose path is empty after normalisation`);
    if (checked.directory) this.reject(`${shown} is a file whose name ends with a slash`);
    if (!Number.isSafeInteger(raw.size) || raw.size < 0) this.reject(`${shown} declares an invalid size (${raw.size})`);
    if (raw.size > this.limits.maxEntryBytes) {
      this.reject(`${shown} declares ${raw.size} bytes, over the per-file limit of ${this.limits.maxEntryBytes} bytes`);
    }
    this.declaredBytes += raw.size;
    if (this.declaredBytes > this.limits.maxTotalBytes) {
      this.reject(`total uncompressed size exceeds the limit of ${this.limits.maxTotalBytes} bytes (at ${shown})`);
    }

    if (isMacOsMetadata(checked.path)) return null;
    if (this.files.has(checked.path)) this.reject(`duplicate ${shown}`);
    if (this.directories.has(checked.path)) this.reject(`${shown} is a file with the same path as a directory`);
    this.addParents(checked.path, shown);
    this.files.add(checked.path);
    return { path: checked.path, size: raw.size };
  }

  private addDirectory(path: string, shown: string): void {
    if (isMacOsMetadata(path)) return;
    if (this.files.has(path)) this.reject(`${shown} is a directory with the same path as a file`);
    this.addParents(path, shown);
    this.directories.add(path);
  }

  /** Registers every ancestor of `path` as a directory; an ancestor already taken by a file is a clash. */
  private addParents(path: string, shown: string): void {
    let end = path.lastIndexOf('/');
    while (end > 0) {
      const parent = path.slice(0, end);
      if (this.files.has(parent)) this.reject(`${shown} lies below ${describeEntry(parent)}, which is a file`);
      if (this.directories.has(parent)) return; // its own ancestors were registered with it
      this.directories.add(parent);
      end = parent.lastIndexOf('/');
    }
  }
}
