import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import * as yazl from 'yazl';
import type { ArchiveLimits } from './archive-limits';
import { extractArchive } from './extract-archive';
import { inspectArchive } from './inspect-archive';
import { readArchiveEntries } from './read-archive-entries';
import { listTree, png, readAll, rejection } from './testing/archive-spec-helpers';

interface ZipItem {
  name: string;
  data?: Buffer;
  directory?: boolean;
  mode?: number;
  compress?: boolean;
}

async function buildZip(items: ZipItem[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const item of items) {
    if (item.directory) zip.addEmptyDirectory(item.name);
    else zip.addBuffer(item.data ?? Buffer.alloc(0), item.name, { compress: item.compress ?? true, ...(item.mode ? { mode: item.mode } : {}) });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function offsetsOf(buffer: Buffer, needle: Buffer): number[] {
  const found: number[] = [];
  for (let at = buffer.indexOf(needle); at !== -1; at = buffer.indexOf(needle, at + 1)) found.push(at);
  return found;
}

const CENTRAL_HEADER = Buffer.from([0x50, 0x4b, 0x01, 0x02]);
const LOCAL_HEADER = Buffer.from([0x50, 0x4b, 0x03, 0x04]);

/** Renames entries yazl refuses to write: the placeholder must be unique in the file and as long as the hostile name. */
function renameEntry(zip: Buffer, placeholder: string, name: string): Buffer {
  const from = Buffer.from(placeholder);
  const to = Buffer.from(name);
  expect(to.length).toBe(from.length);
  const out = Buffer.from(zip);
  const at = offsetsOf(out, from);
  expect(at).toHaveLength(2); // local header and central directory
  for (const offset of at) to.copy(out, offset);
  return out;
}

let dir: string;
let counter = 0;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'archives-zip-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function write(data: Buffer, name = `archive-${++counter}.zip`): Promise<string> {
  const file = path.join(dir, name);
  await fs.writeFile(file, data);
  return file;
}

/** Rejected at inspection, by readArchiveEntries before the first entry, and by extractArchive without writing anything. */
async function expectRejectedEverywhere(file: string, reason: RegExp, limits?: Partial<ArchiveLimits>): Promise<void> {
  expect((await rejection(inspectArchive(file, { limits }))).reason).toMatch(reason);
  expect((await rejection(readAll(file, { limits }))).reason).toMatch(reason);
  const parent = await fs.mkdtemp(path.join(dir, 'out-'));
  const target = path.join(parent, 'target');
  expect((await rejection(extractArchive(file, target, { limits }))).reason).toMatch(reason);
  expect(await fs.readdir(parent)).toEqual([]);
}

describe('zip: reading', () => {
  const a = png(3000);
  const b = png(10);
  const c = png(70_000);
  const items: ZipItem[] = [
    { name: 'photos/', directory: true },
    { name: 'photos/good/', directory: true },
    { name: 'photos/good/a.png', data: a },
    { name: './photos/bad/b.png', data: b, compress: false },
    { name: 'c.png', data: c },
    { name: 'empty.png', data: Buffer.alloc(0) },
    { name: '__MACOSX/photos/good/._a.png', data: Buffer.from('apple double') },
    { name: 'photos/.DS_Store', data: Buffer.from('finder') },
    { name: 'photos/._b.png', data: Buffer.from('apple double') },
  ];

  it('lists file entries in archive order, normalised, without directories or macOS metadata', async () => {
    const file = await write(await buildZip(items));
    expect(await inspectArchive(file)).toEqual([
      { path: 'photos/good/a.png', size: a.length },
      { path: 'photos/bad/b.png', size: b.length },
      { path: 'c.png', size: c.length },
      { path: 'empty.png', size: 0 },
    ]);
  });

  it('round-trips the bytes exactly', async () => {
    const file = await write(await buildZip(items));
    const read = await readAll(file);
    expect(read.map((entry) => entry.path)).toEqual(['photos/good/a.png', 'photos/bad/b.png', 'c.png', 'empty.png']);
    expect(read[0]?.data.equals(a)).toBe(true);
    expect(read[1]?.data.equals(b)).toBe(true);
    expect(read[2]?.data.equals(c)).toBe(true);
    expect(read[3]?.data.length).toBe(0);
  });

  it('reads a zip by its magic bytes when the extension lies', async () => {
    const file = await write(await buildZip(items), 'really-a-zip.tar.gz');
    expect(await inspectArchive(file)).toHaveLength(4);
    expect((await readAll(file)).map((entry) => entry.path)).toContain('c.png');
  });

  it('filters entries', async () => {
    const file = await write(await buildZip(items));
    const read = await readAll(file, { filter: (p) => p.startsWith('photos/') });
    expect(read.map((entry) => entry.path)).toEqual(['photos/good/a.png', 'photos/bad/b.png']);
    expect(read[0]?.data.equals(a)).toBe(true);
  });

  it('reads an empty zip', async () => {
    const file = await write(await buildZip([]));
    expect(await inspectArchive(file)).toEqual([]);
    expect(await readAll(file)).toEqual([]);
  });

  it('stops early when the consumer breaks out', async () => {
    const file = await write(await buildZip(items));
    for await (const entry of readArchiveEntries(file)) {
      expect(entry.path).toBe('photos/good/a.png');
      break;
    }
  });
});

describe('zip: rejections', () => {
  it.each([
    ['a .. segment', 'aa/evil.png', '../evil.png', /entry "\.\.\/evil\.png" contains a \.\. segment/],
    ['a nested .. segment', 'ok/aa/aa/evil.png', 'ok/../../evil.png', /\.\. segment/],
    ['an absolute path', 'xabs.png', '/abs.png', /absolute path/],
    ['a drive letter', 'Cxxx.png', 'C:\\x.png', /absolute path/],
    ['a UNC path', 'xxserverxshare.png', '\\\\server\\share.png', /absolute path/],
    ['a backslash', 'axb.png', 'a\\b.png', /entry "a\\\\b\.png" contains a backslash/],
    ['a NUL', 'axb.png', 'a\u0000b.png', /entry "a\\u0000b\.png" contains a NUL or control character/],
    ['a control character', 'axb.png', 'a\u0007b.png', /NUL or control character/],
    ['an empty path', 'zqz', './.', /empty after normalisation/],
  ])('rejects %s', async (_case, placeholder, name, reason) => {
    const zip = await buildZip([
      { name: 'fine.png', data: png(10) },
      { name: placeholder, data: Buffer.alloc(0), compress: false },
    ]);
    await expectRejectedEverywhere(await write(renameEntry(zip, placeholder, name)), reason);
  });

  it.each([
    ['a symlink', 0o120777, /symbolic link/],
    ['a character device', 0o020644, /device node/],
    ['a block device', 0o060644, /device node/],
    ['a fifo', 0o010644, /FIFO/],
    ['a socket', 0o140644, /unsupported entry type/],
  ])('rejects %s', async (_case, mode, reason) => {
    const zip = await buildZip([
      { name: 'fine.png', data: png(10) },
      { name: 'link.png', data: Buffer.from('/etc/passwd'), mode },
    ]);
    await expectRejectedEverywhere(await write(zip), reason);
  });

  it('rejects an encrypted entry', async () => {
    const zip = await buildZip([{ name: 'secret.png', data: png(100) }]);
    for (const offset of offsetsOf(zip, CENTRAL_HEADER)) zip.writeUInt16LE(zip.readUInt16LE(offset + 8) | 1, offset + 8);
    for (const offset of offsetsOf(zip, LOCAL_HEADER)) zip.writeUInt16LE(zip.readUInt16LE(offset + 6) | 1, offset + 6);
    await expectRejectedEverywhere(await write(zip), /entry "secret\.png" is encrypted/);
  });

  it('rejects an entry using strong encryption', async () => {
    const zip = await buildZip([{ name: 'secret.png', data: png(100) }]);
    for (const offset of offsetsOf(zip, CENTRAL_HEADER)) zip.writeUInt16LE(zip.readUInt16LE(offset + 8) | 0x41, offset + 8);
    await expectRejectedEverywhere(await write(zip), /strong encryption/);
  });

  it('rejects an unsupported compression method', async () => {
    const zip = await buildZip([{ name: 'a.png', data: png(100) }]);
    for (const offset of offsetsOf(zip, CENTRAL_HEADER)) zip.writeUInt16LE(12, offset + 10);
    await expectRejectedEverywhere(await write(zip), /unsupported compression method 12/);
  });

  it('rejects a zip bomb by its compression ratio', async () => {
    const zip = await buildZip([{ name: 'zeros.png', data: Buffer.alloc(50 * 1024 * 1024) }]);
    expect(zip.length).toBeLessThan(100_000);
    await expectRejectedEverywhere(await write(zip), /entry "zeros\.png" has a suspicious compression ratio of \d+:1 \(limit 200:1/);
  });

  it('lets small, well-compressed entries and high ratio limits through', async () => {
    const file = await write(await buildZip([{ name: 'blank.png', data: Buffer.alloc(1024 * 1024) }]));
    expect(await inspectArchive(file)).toEqual([{ path: 'blank.png', size: 1024 * 1024 }]);
    const bomb = await write(await buildZip([{ name: 'zeros.png', data: Buffer.alloc(2 * 1024 * 1024) }]));
    expect(await inspectArchive(bomb, { limits: { maxCompressionRatio: 5000 } })).toHaveLength(1);
  });

  it('rejects more entries than maxEntries', async () => {
    const zip = await buildZip([1, 2, 3, 4, 5].map((n) => ({ name: `${n}.png`, data: png(5) })));
    await expectRejectedEverywhere(await write(zip), /5 entries, more than the limit of 3/, { maxEntries: 3 });
  });

  it('counts directories as entries', async () => {
    const zip = await buildZip([
      { name: 'a/', directory: true },
      { name: 'b/', directory: true },
      { name: 'a/1.png', data: png(5) },
    ]);
    await expectRejectedEverywhere(await write(zip), /more than the limit of 2/, { maxEntries: 2 });
  });

  it('rejects an entry above maxEntryBytes', async () => {
    const zip = await buildZip([{ name: 'big.png', data: png(2000) }]);
    await expectRejectedEverywhere(await write(zip), /entry "big\.png" declares 2008 bytes, over the per-file limit of 1000/, { maxEntryBytes: 1000 });
  });

  it('rejects a total above maxTotalBytes', async () => {
    const zip = await buildZip([1, 2, 3].map((n) => ({ name: `${n}.png`, data: png(592) })));
    await expectRejectedEverywhere(await write(zip), /total uncompressed size exceeds the limit of 1000 bytes \(at entry "2\.png"\)/, {
      maxTotalBytes: 1000,
    });
  });

  it('rejects duplicate paths, also after normalisation', async () => {
    const twice = await buildZip([
      { name: 'a.png', data: png(5) },
      { name: 'a.png', data: png(5) },
    ]);
    await expectRejectedEverywhere(await write(twice), /duplicate entry "a\.png"/);
    const normalised = await buildZip([
      { name: 'x/a.png', data: png(5) },
      { name: './x//a.png', data: png(5) },
    ]);
    await expectRejectedEverywhere(await write(normalised), /duplicate entry "x\/a\.png"/);
  });

  it('rejects a file that is also used as a directory', async () => {
    const zip = await buildZip([
      { name: 'a', data: png(5) },
      { name: 'a/b.png', data: png(5) },
    ]);
    await expectRejectedEverywhere(await write(zip), /lies below entry "a", which is a file/);
  });

  it('rejects entries that share their compressed bytes', async () => {
    const zip = await buildZip([
      { name: 'a.png', data: png(100) },
      { name: 'b.png', data: png(100) },
    ]);
    const [first, second] = offsetsOf(zip, CENTRAL_HEADER);
    zip.writeUInt32LE(zip.readUInt32LE(first! + 42), second! + 42);
    await expectRejectedEverywhere(await write(zip), /overlaps/);
  });

  it('rejects a truncated zip', async () => {
    const zip = await buildZip([
      { name: 'a.png', data: png(5000) },
      { name: 'b.png', data: png(5000) },
    ]);
    await expectRejectedEverywhere(await write(zip.subarray(0, Math.floor(zip.length / 2))), /truncated/);
  });

  it('rejects a zip whose central directory points past the end of the file', async () => {
    const zip = await buildZip([{ name: 'a.png', data: png(100) }]);
    const [central] = offsetsOf(zip, CENTRAL_HEADER);
    zip.writeUInt32LE(zip.length + 10, central! + 42);
    await expectRejectedEverywhere(await write(zip), /corrupt or truncated zip/);
  });
});

describe('zip: lying or corrupt data is caught while reading', () => {
  it('cuts off an entry that holds more data than its header declares', async () => {
    const data = png(5000);
    const zip = await buildZip([
      { name: 'ok.png', data: png(10) },
      { name: 'liar.png', data },
    ]);
    const [, central] = offsetsOf(zip, CENTRAL_HEADER);
    zip.writeUInt32LE(100, central! + 24); // declared uncompressed size
    const file = await write(zip);
    expect(await inspectArchive(file)).toEqual([
      { path: 'ok.png', size: 18 },
      { path: 'liar.png', size: 100 },
    ]);
    const seen: string[] = [];
    const err = await rejection(
      (async () => {
        for await (const entry of readArchiveEntries(file)) seen.push(entry.path);
      })(),
    );
    expect(err.reason).toMatch(/entry "liar\.png".*declared/);
    expect(seen).toEqual(['ok.png']);
  });

  it('rejects an entry that fails its CRC check', async () => {
    const data = Buffer.alloc(300, 7);
    const zip = await buildZip([{ name: 'a.png', data, compress: false }]);
    const at = zip.indexOf(data);
    zip[at + 150] = 8;
    expect((await rejection(readAll(await write(zip)))).reason).toMatch(/entry "a\.png" fails its CRC-32 check/);
  });

  it('rejects corrupt deflate data', async () => {
    const zip = await buildZip([{ name: 'a.png', data: Buffer.from('hello hello hello '.repeat(500)) }]);
    const [local] = offsetsOf(zip, LOCAL_HEADER);
    const dataStart = local! + 30 + zip.readUInt16LE(local! + 26) + zip.readUInt16LE(local! + 28);
    zip.fill(0xff, dataStart, dataStart + 20);
    expect((await rejection(readAll(await write(zip)))).reason).toMatch(/entry "a\.png"/);
  });
});

describe('zip: extraction', () => {
  const a = png(3000);
  const b = png(200);
  const items: ZipItem[] = [
    { name: 'photos/', directory: true },
    { name: 'photos/good/a.png', data: a },
    { name: 'photos/bad/b.png', data: b },
    { name: 'notes.txt', data: Buffer.from('hello') },
    { name: '__MACOSX/photos/good/._a.png', data: Buffer.from('apple double') },
  ];

  it('writes every file inside the target and no temporary files', async () => {
    const file = await write(await buildZip(items));
    const target = path.join(await fs.mkdtemp(path.join(dir, 'out-')), 'new', 'target');
    const written = await extractArchive(file, target);
    expect(written).toEqual(['photos/good/a.png', 'photos/bad/b.png', 'notes.txt']);
    expect(await listTree(target)).toEqual(['notes.txt', 'photos/bad/b.png', 'photos/good/a.png']);
    expect((await fs.readFile(path.join(target, 'photos/good/a.png'))).equals(a)).toBe(true);
    expect((await fs.readFile(path.join(target, 'photos/bad/b.png'))).equals(b)).toBe(true);
  });

  it('extracts into an existing empty directory, with a filter', async () => {
    const file = await write(await buildZip(items));
    const target = await fs.mkdtemp(path.join(dir, 'out-'));
    expect(await extractArchive(file, target, { filter: (p) => p.endsWith('.png') })).toEqual(['photos/good/a.png', 'photos/bad/b.png']);
    expect(await listTree(target)).toEqual(['photos/bad/b.png', 'photos/good/a.png']);
  });

  it('refuses a target that is not empty', async () => {
    const file = await write(await buildZip(items));
    const target = await fs.mkdtemp(path.join(dir, 'out-'));
    await fs.writeFile(path.join(target, 'keep.txt'), 'mine');
    await expect(extractArchive(file, target)).rejects.toThrow(/not empty/);
    expect(await listTree(target)).toEqual(['keep.txt']);
  });

  it('writes nothing, inside or outside, for a hostile archive', async () => {
    const zip = await buildZip([
      { name: 'fine.png', data: png(10) },
      { name: 'aa/evil.png', data: png(10) },
    ]);
    const file = await write(renameEntry(zip, 'aa/evil.png', '../evil.png'));
    const parent = await fs.mkdtemp(path.join(dir, 'out-'));
    const target = path.join(parent, 'target');
    await fs.mkdir(target);
    expect((await rejection(extractArchive(file, target))).reason).toMatch(/\.\. segment/);
    expect(await fs.readdir(parent)).toEqual(['target']);
    expect(await fs.readdir(target)).toEqual([]);
  });

  it('removes what it wrote when an entry turns out to lie about its size', async () => {
    const zip = await buildZip([
      { name: 'photos/ok.png', data: png(10) },
      { name: 'photos/liar.png', data: png(5000) },
    ]);
    const [, central] = offsetsOf(zip, CENTRAL_HEADER);
    zip.writeUInt32LE(100, central! + 24);
    const file = await write(zip);
    const parent = await fs.mkdtemp(path.join(dir, 'out-'));
    const existing = path.join(parent, 'existing');
    await fs.mkdir(existing);
    expect((await rejection(extractArchive(file, existing))).reason).toMatch(/declared/);
    expect(await fs.readdir(existing)).toEqual([]);
    const fresh = path.join(parent, 'fresh');
    await rejection(extractArchive(file, fresh));
    expect(await fs.readdir(parent)).toEqual(['existing']);
  });
});
