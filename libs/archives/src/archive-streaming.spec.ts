import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { extractArchive } from './extract-archive';
import { inspectArchive } from './inspect-archive';
import { streamArchiveEntries } from './read-archive-entries';
import { rejection } from './testing/archive-spec-helpers';
import { writeZerosTarGz } from './testing/zeros-tar-gz';

const MiB = 1024 * 1024;

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'archives-streaming-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function zerosTarGz(name: string, count: number, bytes: number): Promise<string> {
  const file = path.join(dir, name);
  await writeZerosTarGz(file, count, bytes);
  return file;
}

describe('tar.gz compression ratio', () => {
  it('rejects a tar.gz bomb (3 entries of 128 MiB of zeros) by its ratio, as zip is, before decompressing it whole', async () => {
    const file = await zerosTarGz('bomb.tar.gz', 3, 128 * MiB);
    const { size } = await fs.stat(file);
    expect(size).toBeLessThan(2 * MiB); // about 1000:1, within every declared limit
    const started = Date.now();
    const err = await rejection(inspectArchive(file));
    expect(err.reason).toMatch(/suspicious compression ratio of \d+:1 \(limit 200:1; possible gzip bomb\)/);
    expect(Date.now() - started).toBeLessThan(5000);

    const target = path.join(dir, 'bomb-out');
    expect((await rejection(extractArchive(file, target))).reason).toMatch(/compression ratio/);
    await expect(fs.stat(target)).rejects.toMatchObject({ code: 'ENOENT' });
  }, 60_000);

  it('takes the ratio limit from the options', async () => {
    const file = await zerosTarGz('ratio.tar.gz', 1, 16 * MiB);
    await expect(inspectArchive(file, { limits: { maxCompressionRatio: 5000 } })).resolves.toEqual([{ path: 'zeros-0.png', size: 16 * MiB }]);
    expect((await rejection(inspectArchive(file, { limits: { maxCompressionRatio: 50 } }))).reason).toMatch(/limit 50:1/);
  });
});

describe('streamArchiveEntries', () => {
  it('reads a 256 MiB entry in bounded memory', async () => {
    const file = await zerosTarGz('huge.tar.gz', 1, 256 * MiB);
    const before = process.memoryUsage().rss;
    let peak = before;
    let bytes = 0;
    for await (const { entry, content } of streamArchiveEntries(file, { limits: { maxCompressionRatio: 10_000 } })) {
      expect(entry).toEqual({ path: 'zeros-0.png', size: 256 * MiB });
      for await (const chunk of content) {
        bytes += chunk.length;
        peak = Math.max(peak, process.memoryUsage().rss);
      }
    }
    expect(bytes).toBe(256 * MiB);
    expect(peak - before).toBeLessThan(96 * MiB);
  }, 60_000);
});
