/** Bounds applied to every archive before and while it is read. */
export interface ArchiveLimits {
  /** Every entry counts, directories and skipped macOS metadata included. */
  maxEntries: number;
  /** Sum of the declared (uncompressed) sizes of all files. */
  maxTotalBytes: number;
  /** Declared (uncompressed) size of one file. */
  maxEntryBytes: number;
  /** Uncompressed/compressed size: of each zip entry larger than 1 MiB, of each 8 MiB stretch of a tar.gz's stream. */
  maxCompressionRatio: number;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export const DEFAULT_ARCHIVE_LIMITS: Readonly<ArchiveLimits> = Object.freeze({
  maxEntries: 100_000,
  maxTotalBytes: 20 * GiB,
  maxEntryBytes: 512 * MiB,
  maxCompressionRatio: 200,
});

const LIMIT_NAMES = ['maxEntries', 'maxTotalBytes', 'maxEntryBytes', 'maxCompressionRatio'] as const;

/** Defaults overlaid with `overrides`; a limit that is not a positive number is a caller bug, so it throws a RangeError. */
export function resolveArchiveLimits(overrides: Partial<ArchiveLimits> = {}): ArchiveLimits {
  const limits: ArchiveLimits = { ...DEFAULT_ARCHIVE_LIMITS };
  for (const name of LIMIT_NAMES) {
    const value = overrides[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
      throw new RangeError(`archive limit ${name} must be a positive finite number, got ${String(value)}`);
    }
    limits[name] = value;
  }
  return limits;
}
