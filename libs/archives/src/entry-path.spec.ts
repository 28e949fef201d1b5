import { DEFAULT_ARCHIVE_LIMITS } from './archive-limits';
import { ArchiveRejectedError } from './archive-rejected-error';
import { checkEntryPath, isMacOsMetadata } from './entry-path';
import { EntryValidator, type RawEntry } from './entry-validator';

describe('checkEntryPath', () => {
  it.each([
    ['photos/a.png', 'photos/a.png', false],
    ['./photos/a.png', 'photos/a.png', false],
    ['././photos//./a.png', 'photos/a.png', false],
    ['photos/', 'photos', true],
    ['./', '', true],
    ['caf\u00e9/\u{1f4f7}.png', 'caf\u00e9/\u{1f4f7}.png', false],
    ['a..b/..c.png', 'a..b/..c.png', false],
  ])('normalises %j', (raw, path, directory) => {
    expect(checkEntryPath(raw)).toEqual({ ok: true, path, directory });
  });

  it.each([
    ['/etc/passwd', /absolute path/],
    ['C:\\x.png', /absolute path/],
    ['c:x.png', /absolute path/],
    ['\\\\server\\share\\x.png', /absolute path/],
    ['\\x.png', /absolute path/],
    ['../evil.png', /\.\. segment/],
    ['photos/../../evil.png', /\.\. segment/],
    ['photos/..', /\.\. segment/],
    ['a\\b.png', /backslash/],
    ['a\u0000b.png', /NUL or control character/],
    ['a\nb.png', /NUL or control character/],
    ['a\u007fb.png', /NUL or control character/],
    ['a\u009bb.png', /NUL or control character/],
    [`${'a'.repeat(256)}.png`, /segment longer than 255 bytes/],
    [`${'abc/'.repeat(1100)}x.png`, /longer than 4096 bytes/],
  ])('refuses %j', (raw, problem) => {
    const checked = checkEntryPath(raw);
    expect(checked.ok).toBe(false);
    if (!checked.ok) expect(checked.problem).toMatch(problem);
  });

  it.each([
    ['__MACOSX/photos/._a.png', true],
    ['__MACOSX', true],
    ['photos/._a.png', true],
    ['.DS_Store', true],
    ['photos/.DS_Store', true],
    ['photos/a.png', false],
    ['photos/_a.png', false],
    ['.hidden.png', false],
  ])('isMacOsMetadata(%j) is %p', (path, expected) => {
    expect(isMacOsMetadata(path)).toBe(expected);
  });
});

describe('EntryValidator', () => {
  const file = (name: string, size = 1): RawEntry => ({ name, kind: 'file', size });
  const dir = (name: string): RawEntry => ({ name, kind: 'directory', size: 0 });

  function reasonFor(entries: RawEntry[], limits = DEFAULT_ARCHIVE_LIMITS): string {
    const validator = new EntryValidator('t.zip', { ...limits });
    try {
      for (const entry of entries) validator.accept(entry);
    } catch (err) {
      expect(err).toBeInstanceOf(ArchiveRejectedError);
      return (err as ArchiveRejectedError).reason;
    }
    throw new Error('expected a rejection');
  }

  it('accepts files, skips directories and macOS metadata', () => {
    const validator = new EntryValidator('t.zip', { ...DEFAULT_ARCHIVE_LIMITS });
    const accepted = [dir('./'), dir('photos/'), file('./photos/a.png', 3), file('photos/._a.png'), file('__MACOSX/x'), file('b.png', 0)].map((entry) =>
      validator.accept(entry),
    );
    expect(accepted).toEqual([null, null, { path: 'photos/a.png', size: 3 }, null, null, { path: 'b.png', size: 0 }]);
  });

  it.each<[string, RawEntry[], RegExp]>([
    ['duplicate', [file('a.png'), file('./a.png')], /duplicate entry "a.png"/],
    ['file below a file', [file('a'), file('a/b.png')], /lies below entry "a", which is a file/],
    ['file over a directory', [file('a/b.png'), file('a')], /same path as a directory/],
    ['directory over a file', [file('a'), dir('a/')], /directory with the same path as a file/],
    ['empty file path', [file('./.')], /empty after normalisation/],
    ['symlink', [{ name: 'l.png', kind: 'symlink', size: 0 }], /symbolic link/],
    ['hard link', [{ name: 'l.png', kind: 'hardlink', size: 0 }], /hard link/],
    ['device', [{ name: 'dev', kind: 'device', size: 0 }], /device node/],
    ['fifo', [{ name: 'pipe', kind: 'fifo', size: 0 }], /FIFO/],
    ['unsupported', [{ name: 'v', kind: 'unsupported', size: 0, detail: 'tar type V' }], /unsupported entry type \(tar type V\)/],
    ['negative size', [file('a.png', -1)], /invalid size/],
    ['symlink even as metadata', [{ name: '__MACOSX/l', kind: 'symlink', size: 0 }], /symbolic link/],
  ])('rejects a %s', (_case, entries, reason) => {
    expect(reasonFor(entries)).toMatch(reason);
  });

  it('enforces the limits on declared sizes and entry count', () => {
    const limits = { ...DEFAULT_ARCHIVE_LIMITS, maxEntries: 3, maxEntryBytes: 100, maxTotalBytes: 150 };
    expect(reasonFor([dir('a/'), dir('b/'), file('a/1'), file('a/2')], limits)).toMatch(/more than 3 entries/);
    expect(reasonFor([file('big.png', 101)], limits)).toMatch(/declares 101 bytes, over the per-file limit of 100/);
    expect(reasonFor([file('a.png', 100), file('b.png', 51)], limits)).toMatch(/total uncompressed size exceeds the limit of 150 bytes/);
    // metadata is skipped but still counted: its bytes are still decompressed
    expect(reasonFor([file('a.png', 100), file('._a.png', 51)], limits)).toMatch(/total uncompressed size/);
  });
});
