import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { detectArchiveFormat } from './archive-format';
import { DEFAULT_ARCHIVE_LIMITS, resolveArchiveLimits } from './archive-limits';
import { inspectArchive } from './inspect-archive';
import { readArchiveEntries } from './read-archive-entries';
import { rejection } from './testing/archive-spec-helpers';

function tarHead(): Uint8Array {
  const head = new Uint8Array(512);
  head.set(Buffer.from('ustar\u000000'), 257);
  return head;
}

describe('detectArchiveFormat', () => {
  it.each([
    ['upload.bin', Buffer.from('PK\u0003\u0004rest'), 'zip'],
    ['upload.bin', Buffer.from('PK\u0005\u0006'), 'zip'],
    ['upload.bin', Buffer.from([0x1f, 0x8b, 0x08, 0x00]), 'tar.gz'],
    ['upload.bin', tarHead(), 'tar'],
  ] as const)('detects %s with magic bytes %#', (name, head, expected) => {
    expect(detectArchiveFormat(name, head)).toBe(expected);
  });

  it('trusts magic bytes over a lying extension', () => {
    expect(detectArchiveFormat('photos.zip', Buffer.from([0x1f, 0x8b, 0x08]))).toBe('tar.gz');
    expect(detectArchiveFormat('photos.tar.gz', Buffer.from('PK\u0003\u0004'))).toBe('zip');
    expect(detectArchiveFormat('photos.zip', tarHead())).toBe('tar');
  });

  it.each([
    ['a.zip', 'zip'],
    ['A.ZIP', 'zip'],
    ['a.tar', 'tar'],
    ['a.tar.gz', 'tar.gz'],
    ['a.TGZ', 'tar.gz'],
    ['dir/a.b.tgz', 'tar.gz'],
    ['a.gz', null],
    ['a.txt', null],
    ['zip', null],
  ] as const)('falls back to the extension of %s', (name, expected) => {
    expect(detectArchiveFormat(name)).toBe(expected);
    expect(detectArchiveFormat(name, Buffer.from('plain text, no magic'))).toBe(expected);
  });
});

describe('resolveArchiveLimits', () => {
  it('overlays the defaults', () => {
    expect(resolveArchiveLimits({ maxEntries: 5, maxTotalBytes: undefined })).toEqual({ ...DEFAULT_ARCHIVE_LIMITS, maxEntries: 5 });
    expect(DEFAULT_ARCHIVE_LIMITS).toEqual({
      maxEntries: 100_000,
      maxTotalBytes: 20 * 1024 ** 3,
      maxEntryBytes: 512 * 1024 ** 2,
      maxCompressionRatio: 200,
    });
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('refuses %p as a limit', (value) => {
    expect(() => resolveArchiveLimits({ maxEntryBytes: value })).toThrow(RangeError);
  });
});

describe('files that are not archives', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'archives-format-'));
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it.each(['empty.zip', 'empty.tar', 'empty.tar.gz', 'empty.dat'])('rejects a zero-byte %s', async (name) => {
    const file = path.join(dir, name);
    await fs.writeFile(file, '');
    const err = await rejection(inspectArchive(file));
    expect(err.reason).toMatch(/empty file/);
    expect(err.archive).toBe(name);
    expect(err.message).toBe(`${name}: ${err.reason}`);
  });

  it('rejects a text file with an unknown format', async () => {
    const file = path.join(dir, 'notes.txt');
    await fs.writeFile(file, 'just some notes\n'.repeat(100));
    expect((await rejection(inspectArchive(file))).reason).toMatch(/unknown format/);
    const read = readArchiveEntries(file, { label: 'upload 17' });
    const err = await rejection(read.next());
    expect(err.message).toMatch(/^upload 17: unknown format/);
  });

  it('uses the label to detect the format of a file stored without an extension', async () => {
    const file = path.join(dir, 'blob-123');
    await fs.writeFile(file, 'not really a zip');
    expect((await rejection(inspectArchive(file, { label: 'photos.zip' }))).reason).toMatch(/not a zip archive/);
  });

  it.each([
    ['fake.zip', /not a zip archive/],
    ['fake.tar', /corrupt tar/],
    ['fake.tgz', /corrupt gzip data/],
  ])('rejects a text file named %s as corrupt', async (name, reason) => {
    const file = path.join(dir, name);
    await fs.writeFile(file, 'x'.repeat(2000));
    expect((await rejection(inspectArchive(file))).reason).toMatch(reason);
  });

  it('passes file system errors through unchanged', async () => {
    await expect(inspectArchive(path.join(dir, 'missing.zip'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('rejects a directory', async () => {
    expect((await rejection(inspectArchive(dir, { format: 'zip' }))).reason).toMatch(/not a regular file/);
  });
});
