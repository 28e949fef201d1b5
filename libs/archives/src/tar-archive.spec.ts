import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import type { ArchiveFormat } from './archive-format';
import type { ArchiveLimits } from './archive-limits';
import { extractArchive } from './extract-archive';
import { inspectArchive } from './inspect-archive';
import { readArchiveEntries } from './read-archive-entries';
import { listTree, png, readAll, rejection } from './testing/archive-spec-helpers';

interface TarItem {
  name: string;
  data?: Buffer;
  type?: tar.Header['type'];
  linkname?: string;
  /** Forces a pax header, the only way to get some names (e.g. with a NUL) into a tar. */
  pax?: boolean;
}

async function buildTar(items: TarItem[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const item of items) {
    const header: Parameters<typeof pack.entry>[0] = { name: item.name, type: item.type ?? 'file', mtime: new Date(0) };
    if (item.linkname !== undefined) header.linkname = item.linkname;
    if (item.pax) header.pax = {};
    pack.entry(header, item.data ?? Buffer.alloc(0));
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Rewrites the type flag of the header at `offset` and fixes its checksum, for types tar-stream cannot write. */
function setTypeFlag(archive: Buffer, offset: number, flag: string): void {
  archive.write(flag, offset + 156, 'latin1');
  archive.fill(0x20, offset + 148, offset + 156);
  let sum = 0;
  for (let i = offset; i < offset + 512; i++) sum += archive[i] ?? 0;
  archive.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, offset + 148, 'latin1');
}

let dir: string;
let counter = 0;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'archives-tar-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const EXTENSIONS: Record<Exclude<ArchiveFormat, 'zip'>, string> = { tar: '.tar', 'tar.gz': '.tar.gz' };

async function write(data: Buffer, name: string): Promise<string> {
  const file = path.join(dir, `${++counter}-${name}`);
  await fs.writeFile(file, data);
  return file;
}

describe.each(['tar', 'tar.gz'] as const)('%s', (format) => {
  const pack = (tarBytes: Buffer) => (format === 'tar.gz' ? zlib.gzipSync(tarBytes) : tarBytes);
  const archive = async (items: TarItem[], name = `archive${EXTENSIONS[format]}`) => write(pack(await buildTar(items)), name);

  async function expectRejectedEverywhere(file: string, reason: RegExp, limits?: Partial<ArchiveLimits>): Promise<void> {
    expect((await rejection(inspectArchive(file, { limits }))).reason).toMatch(reason);
    expect((await rejection(readAll(file, { limits }))).reason).toMatch(reason);
    const parent = await fs.mkdtemp(path.join(dir, 'out-'));
    expect((await rejection(extractArchive(file, path.join(parent, 'target'), { limits }))).reason).toMatch(reason);
    expect(await fs.readdir(parent)).toEqual([]);
  }

  const a = png(3000);
  const b = png(10);
  const c = png(70_000);
  const items: TarItem[] = [
    { name: './', type: 'directory' },
    { name: './photos/', type: 'directory' },
    { name: './photos/good/', type: 'directory' },
    { name: './photos/good/a.png', data: a },
    { name: 'photos/bad/b.png', data: b },
    { name: 'c.png', data: c },
    { name: 'empty.png' },
    { name: `deep/${'long-folder-name/'.repeat(12)}d.png`, data: b },
    { name: '__MACOSX/photos/good/._a.png', data: Buffer.from('apple double') },
    { name: 'photos/.DS_Store', data: Buffer.from('finder') },
    { name: 'photos/._b.png', data: Buffer.from('apple double') },
  ];
  const expectedPaths = ['photos/good/a.png', 'photos/bad/b.png', 'c.png', 'empty.png', `deep/${'long-folder-name/'.repeat(12)}d.png`];

  describe('reading', () => {
    it('lists file entries in archive order, normalised, without directories or macOS metadata', async () => {
      const file = await archive(items);
      const entries = await inspectArchive(file);
      expect(entries.map((entry) => entry.path)).toEqual(expectedPaths);
      expect(entries.map((entry) => entry.size)).toEqual([a.length, b.length, c.length, 0, b.length]);
    });

    it('round-trips the bytes exactly', async () => {
      const read = await readAll(await archive(items));
      expect(read.map((entry) => entry.path)).toEqual(expectedPaths);
      expect(read[0]?.data.equals(a)).toBe(true);
      expect(read[1]?.data.equals(b)).toBe(true);
      expect(read[2]?.data.equals(c)).toBe(true);
      expect(read[3]?.data.length).toBe(0);
      expect(read[4]?.data.equals(b)).toBe(true);
    });

    it('reads by magic bytes when the extension lies', async () => {
      const file = await archive(items, format === 'tar' ? 'really-a-tar.tgz' : 'really-a-tgz.zip');
      expect((await inspectArchive(file)).map((entry) => entry.path)).toEqual(expectedPaths);
    });

    it('filters entries', async () => {
      const read = await readAll(await archive(items), { filter: (p) => p.startsWith('photos/') });
      expect(read.map((entry) => entry.path)).toEqual(['photos/good/a.png', 'photos/bad/b.png']);
      expect(read[0]?.data.equals(a)).toBe(true);
    });

    it('reads an empty archive', async () => {
      const file = await archive([]);
      expect(await inspectArchive(file)).toEqual([]);
      expect(await readAll(file)).toEqual([]);
    });

    it('stops early when the consumer breaks out', async () => {
      const file = await archive(items);
      for await (const entry of readArchiveEntries(file)) {
        expect(entry.path).toBe('photos/good/a.png');
        break;
      }
    });
  });

  describe('rejections', () => {
    it.each([
      ['a .. segment', '../evil.png', /entry "\.\.\/evil\.png" contains a \.\. segment/],
      ['a nested .. segment', 'photos/../../evil.png', /\.\. segment/],
      ['an absolute path', '/etc/evil.png', /entry "\/etc\/evil\.png" is an absolute path/],
      ['a drive letter', 'C:\\evil.png', /absolute path/],
      ['a UNC path', '\\\\server\\share\\evil.png', /absolute path/],
      ['a backslash', 'photos\\evil.png', /contains a backslash/],
      ['a control character', 'evil\u0007.png', /NUL or control character/],
      ['an empty path', '.', /empty after normalisation/],
    ])('rejects %s', async (_case, name, reason) => {
      await expectRejectedEverywhere(
        await archive([
          { name: 'fine.png', data: png(5) },
          { name, data: png(5) },
        ]),
        reason,
      );
    });

    it('rejects a NUL in a pax path', async () => {
      const file = await archive([{ name: 'evil\u0000.png', data: png(5), pax: true }]);
      await expectRejectedEverywhere(file, /entry "evil\\u0000\.png" contains a NUL or control character/);
    });

    it('rejects a .. segment in a pax path', async () => {
      await expectRejectedEverywhere(await archive([{ name: '../pax-evil.png', data: png(5), pax: true }]), /\.\. segment/);
    });

    it.each([
      ['a symlink', { name: 'link.png', type: 'symlink', linkname: '/etc/passwd' }, /entry "link\.png" is a symbolic link/],
      ['a hard link', { name: 'link.png', type: 'link', linkname: 'fine.png' }, /entry "link\.png" is a hard link/],
      ['a character device', { name: 'tty', type: 'character-device' }, /device node/],
      ['a block device', { name: 'sda', type: 'block-device' }, /device node/],
      ['a fifo', { name: 'pipe', type: 'fifo' }, /FIFO/],
    ] as const)('rejects %s', async (_case, item, reason) => {
      await expectRejectedEverywhere(await archive([{ name: 'fine.png', data: png(5) }, item]), reason);
    });

    it('rejects an unknown entry type', async () => {
      const bytes = await buildTar([{ name: 'volume', data: png(5) }]);
      setTypeFlag(bytes, 0, 'V');
      await expectRejectedEverywhere(await write(pack(bytes), `typed${EXTENSIONS[format]}`), /unsupported entry type/);
    });

    it('rejects more entries than maxEntries, directories included', async () => {
      const file = await archive([
        { name: 'a/', type: 'directory' },
        { name: 'b/', type: 'directory' },
        { name: 'a/1.png', data: png(5) },
      ]);
      await expectRejectedEverywhere(file, /more than 2 entries/, { maxEntries: 2 });
    });

    it('rejects an entry above maxEntryBytes', async () => {
      const file = await archive([{ name: 'big.png', data: png(2000) }]);
      await expectRejectedEverywhere(file, /entry "big\.png" declares 2008 bytes, over the per-file limit of 1000/, { maxEntryBytes: 1000 });
    });

    it('rejects a total above maxTotalBytes', async () => {
      const file = await archive([1, 2, 3].map((n) => ({ name: `${n}.png`, data: png(592) })));
      await expectRejectedEverywhere(file, /total uncompressed size exceeds the limit of 1000 bytes \(at entry "2\.png"\)/, { maxTotalBytes: 1000 });
    });

    it('rejects duplicate paths after normalisation', async () => {
      const file = await archive([
        { name: 'x/a.png', data: png(5) },
        { name: './x//a.png', data: png(5) },
      ]);
      await expectRejectedEverywhere(file, /duplicate entry "x\/a\.png"/);
    });

    it('rejects a file that is also used as a directory', async () => {
      const file = await archive([
        { name: 'a', data: png(5) },
        { name: 'a/', type: 'directory' },
      ]);
      await expectRejectedEverywhere(file, /directory with the same path as a file/);
    });

    it('rejects an archive cut in half', async () => {
      const bytes = pack(
        await buildTar([
          { name: 'a.png', data: png(5000) },
          { name: 'b.png', data: png(5000) },
        ]),
      );
      await expectRejectedEverywhere(await write(bytes.subarray(0, Math.floor(bytes.length / 2)), `half${EXTENSIONS[format]}`), /truncated/);
    });

    it('rejects an archive cut right after the last entry', async () => {
      const bytes = await buildTar([{ name: 'a.png', data: png(1016) }]);
      expect(bytes.length).toBe(512 + 1024 + 1024);
      const file = await write(pack(bytes.subarray(0, 512 + 1024)), `cut${EXTENSIONS[format]}`);
      await expectRejectedEverywhere(file, /truncated tar: the end-of-archive marker is missing/);
    });

    it('rejects a header with a bad checksum', async () => {
      const bytes = await buildTar([
        { name: 'a.png', data: png(5) },
        { name: 'b.png', data: png(5) },
      ]);
      bytes[1024] = 0x41; // first byte of the second header's name
      await expectRejectedEverywhere(await write(pack(bytes), `corrupt${EXTENSIONS[format]}`), /corrupt tar: a header fails its checksum/);
    });

    it('rejects a declared size above the limits before reading the data (gzip bomb with honest headers)', async () => {
      const file = await archive([{ name: 'zeros.png', data: Buffer.alloc(50 * 1024 * 1024) }]);
      await expectRejectedEverywhere(file, /total uncompressed size exceeds the limit of 1048576 bytes/, { maxTotalBytes: 1024 * 1024 });
    });
  });

  describe('extraction', () => {
    it('writes every file inside the target and no temporary files', async () => {
      const target = path.join(await fs.mkdtemp(path.join(dir, 'out-')), 'target');
      expect(await extractArchive(await archive(items), target)).toEqual(expectedPaths);
      expect(await listTree(target)).toEqual([...expectedPaths].sort());
      expect((await fs.readFile(path.join(target, 'photos/good/a.png'))).equals(a)).toBe(true);
      expect((await fs.readFile(path.join(target, 'c.png'))).equals(c)).toBe(true);
    });

    it('extracts only what the filter keeps', async () => {
      const target = await fs.mkdtemp(path.join(dir, 'out-'));
      expect(await extractArchive(await archive(items), target, { filter: (p) => p === 'c.png' })).toEqual(['c.png']);
      expect(await listTree(target)).toEqual(['c.png']);
    });

    it('writes nothing, inside or outside, for a hostile archive', async () => {
      const file = await archive([
        { name: 'fine.png', data: png(5) },
        { name: 'target/../../evil.png', data: png(5) },
      ]);
      const parent = await fs.mkdtemp(path.join(dir, 'out-'));
      await fs.mkdir(path.join(parent, 'target'));
      expect((await rejection(extractArchive(file, path.join(parent, 'target')))).reason).toMatch(/\.\. segment/);
      expect(await listTree(parent)).toEqual([]);
      expect(await fs.readdir(path.join(parent, 'target'))).toEqual([]);
    });
  });
});

describe('tar.gz bombs', () => {
  it('cuts off decompression once the stream outgrows what the headers declare', async () => {
    // One small valid entry, then 50 MB of zero blocks: the parser skips them as empty headers, so only the byte count stops it.
    const bytes = Buffer.concat([await buildTar([{ name: 'a.png', data: png(100) }]), Buffer.alloc(50 * 1024 * 1024)]);
    const gz = zlib.gzipSync(bytes);
    expect(gz.length).toBeLessThan(100_000);
    const file = await write(gz, 'bomb.tar.gz');
    const err = await rejection(inspectArchive(file));
    expect(err.reason).toMatch(/decompressed data exceeds what the tar headers declare by more than \d+ bytes \(possible gzip bomb\)/);
    expect((await rejection(readAll(file))).reason).toMatch(/gzip bomb/);
  });

  it('accepts ordinary end-of-archive padding', async () => {
    // GNU tar pads archives to a 10 KiB record.
    const bytes = await buildTar([{ name: 'a.png', data: png(100) }]);
    const padded = Buffer.concat([bytes, Buffer.alloc(10240 - bytes.length)]);
    expect(await inspectArchive(await write(zlib.gzipSync(padded), 'padded.tar.gz'))).toEqual([{ path: 'a.png', size: 108 }]);
  });

  it('rejects a corrupt gzip stream', async () => {
    const gz = zlib.gzipSync(await buildTar([{ name: 'a.png', data: Buffer.from('x'.repeat(5000)) }]));
    gz.fill(0xff, 20, 40);
    expect((await rejection(inspectArchive(await write(gz, 'corrupt.tar.gz')))).reason).toMatch(/corrupt gzip data/);
  });

  it('rejects a truncated gzip stream', async () => {
    const gz = zlib.gzipSync(await buildTar([{ name: 'a.png', data: png(5000) }]));
    expect((await rejection(inspectArchive(await write(gz.subarray(0, gz.length - 4), 'short.tar.gz')))).reason).toMatch(/truncated gzip stream/);
  });
});
