import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import * as yazl from 'yazl';
import { ArchiveRejectedError } from '@padim-fleet/archives';
import { ScoreInputChunk, scoreInputChunks } from './score-inputs';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const png = (bytes = 16) => Buffer.concat([PNG_SIGNATURE, randomBytes(bytes)]);

async function buildZip(items: { name: string; data: Buffer }[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const item of items) zip.addBuffer(item.data, item.name);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

async function buildTarGz(items: { name: string; data: Buffer }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const item of items) pack.entry({ name: item.name, type: 'file', mtime: new Date(0) }, item.data);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return zlib.gzipSync(Buffer.concat(chunks));
}

async function collect(gen: AsyncGenerator<ScoreInputChunk>): Promise<ScoreInputChunk[]> {
  const out: ScoreInputChunk[] = [];
  for await (const chunk of gen) out.push(chunk);
  return out;
}

let dir: string;
let data: string;
const zipEntries = { 'good/a.png': png(), 'good/b.png': png(), 'readme.txt': Buffer.from('not an image') };
const tarEntries = ['p/1.png', 'p/2.png', 'p/3.png', 'q/4.png', 'q/5.png'].map((name) => ({ name, data: png() }));

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'score-inputs-'));
  data = path.join(dir, 'data');
  for (const f of ['good/000.png', 'good/001.png', 'bad/sub/002.jpg', 'notes.txt', '.hidden.png']) {
    await fs.mkdir(path.dirname(path.join(data, f)), { recursive: true });
    await fs.writeFile(path.join(data, f), png());
  }
  await fs.writeFile(path.join(dir, 'extra.png'), png());
  await fs.writeFile(path.join(dir, 'weird.bin'), 'neither an image nor an archive');
  const zip = await buildZip([
    ...Object.entries(zipEntries).map(([name, d]) => ({ name, data: d })),
    { name: '__MACOSX/good/._a.png', data: Buffer.from('junk') },
    { name: 'good/.DS_Store', data: Buffer.from('junk') },
  ]);
  await fs.writeFile(path.join(dir, 'photos.zip'), zip);
  // Detected by magic bytes, whatever the name says.
  await fs.writeFile(path.join(dir, 'upload.dat'), zip);
  await fs.writeFile(path.join(dir, 'series.tgz'), await buildTarGz(tarEntries));
  await fs.writeFile(
    path.join(dir, 'evil.tar.gz'),
    await buildTarGz([
      { name: 'ok.png', data: png() },
      { name: '../evil.png', data: png() },
    ]),
  );
});
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

describe('scoreInputChunks', () => {
  it('lists folders recursively by extension, files as given, and archives entry by entry', async () => {
    const chunks = await collect(scoreInputChunks([data, path.join(dir, 'extra.png'), path.join(dir, 'photos.zip')]));
    expect(chunks).toHaveLength(2);
    const [files, archive] = chunks;
    expect(files.read).toBeUndefined();
    expect(files.items).toEqual([
      { file: 'data/bad/sub/002.jpg', ref: path.join(data, 'bad/sub/002.jpg') },
      { file: 'data/good/000.png', ref: path.join(data, 'good/000.png') },
      { file: 'data/good/001.png', ref: path.join(data, 'good/001.png') },
      { file: 'extra.png', ref: path.join(dir, 'extra.png') },
    ]);
    // Every file entry, images or not; macOS metadata is skipped.
    expect(archive.items.map((i) => i.file)).toEqual(['photos.zip/good/a.png', 'photos.zip/good/b.png', 'photos.zip/readme.txt']);
    for (const item of archive.items)
      expect(await archive.read!(item.ref)).toEqual(zipEntries[item.file.slice('photos.zip/'.length) as keyof typeof zipEntries]);
    expect(chunks.every((c) => c.total === 7)).toBe(true);
  });

  it('names a single folder’s images relative to it, and a single file by its name', async () => {
    const [chunk] = await collect(scoreInputChunks([path.join(data, 'good')]));
    expect(chunk.items.map((i) => i.file)).toEqual(['000.png', '001.png']);
    const [file] = await collect(scoreInputChunks([path.join(data, 'good', '001.png')]));
    expect(file.items).toEqual([{ file: '001.png', ref: path.join(data, 'good', '001.png') }]);
  });

  it('scores a file that is neither an image nor an archive (it gets an error row later)', async () => {
    const [chunk] = await collect(scoreInputChunks([path.join(dir, 'weird.bin')]));
    expect(chunk.items).toEqual([{ file: 'weird.bin', ref: path.join(dir, 'weird.bin') }]);
  });

  it('detects archives by their bytes, not their names', async () => {
    const [chunk] = await collect(scoreInputChunks([path.join(dir, 'upload.dat')]));
    expect(chunk.items.map((i) => i.file)).toEqual(['upload.dat/good/a.png', 'upload.dat/good/b.png', 'upload.dat/readme.txt']);
  });

  it('reads an archive in chunks of at most chunkSize entries, each holding only its own bytes', async () => {
    const chunks = await collect(scoreInputChunks([path.join(dir, 'series.tgz')], { chunkSize: 2 }));
    expect(chunks.map((c) => c.items.length)).toEqual([2, 2, 1]);
    expect(chunks.flatMap((c) => c.items.map((i) => i.file))).toEqual(tarEntries.map((e) => `series.tgz/${e.name}`));
    for (const [k, chunk] of chunks.entries()) {
      for (const [j, item] of chunk.items.entries()) expect(await chunk.read!(item.ref)).toEqual(tarEntries[k * 2 + j].data);
    }
    await expect(chunks[0].read!(chunks[1].items[0].ref)).rejects.toThrow(/not an entry of this chunk/);
    expect(chunks.every((c) => c.total === 5)).toBe(true);
  });

  it('keeps input order: files, then an archive, then more files', async () => {
    const chunks = await collect(scoreInputChunks([path.join(dir, 'extra.png'), path.join(dir, 'photos.zip'), path.join(data, 'good')], { chunkSize: 64 }));
    expect(chunks.map((c) => c.items.map((i) => i.file))).toEqual([
      ['extra.png'],
      ['photos.zip/good/a.png', 'photos.zip/good/b.png', 'photos.zip/readme.txt'],
      ['data/good/000.png', 'data/good/001.png'],
    ]);
  });

  it('scores an image once when inputs overlap', async () => {
    const chunks = await collect(scoreInputChunks([path.join(data, 'good'), path.join(data, 'good', '000.png'), data]));
    expect(chunks).toHaveLength(1);
    expect(chunks[0].items.map((i) => i.file)).toEqual(['good/000.png', 'good/001.png', 'bad/sub/002.jpg']);
  });

  it('rejects a hostile archive before yielding any chunk, even after good inputs', async () => {
    const gen = scoreInputChunks([data, path.join(dir, 'photos.zip'), path.join(dir, 'evil.tar.gz')]);
    const err = await gen.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ArchiveRejectedError);
    expect((err as Error).message).toMatch(/^evil\.tar\.gz: .*"\.\.\/evil\.png".*\.\. segment/);
  });

  it('applies archive limits when inspecting', async () => {
    await expect(collect(scoreInputChunks([path.join(dir, 'series.tgz')], { limits: { maxEntries: 3 } }))).rejects.toBeInstanceOf(ArchiveRejectedError);
  });

  it('names a missing input', async () => {
    const missing = path.join(dir, 'nope', 'gone.png');
    await expect(collect(scoreInputChunks([data, missing]))).rejects.toThrow(`${missing}: no such file or folder`);
  });

  it('yields nothing for a folder without images, and refuses a bad chunk size', async () => {
    const empty = path.join(dir, 'empty');
    await fs.mkdir(empty);
    expect(await collect(scoreInputChunks([empty]))).toEqual([]);
    await expect(collect(scoreInputChunks([data], { chunkSize: 0 }))).rejects.toThrow(RangeError);
  });
});
