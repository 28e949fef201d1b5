import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';

const MiB = 1024 * 1024;

/** Writes a tar.gz of `count` entries of `bytes` zeros each, as a stream: nothing near an entry's size is ever held. */
export async function writeZerosTarGz(file: string, count: number, bytes: number): Promise<void> {
  const pack = tar.pack();
  const written = pipeline(pack, zlib.createGzip(), createWriteStream(file));
  const zeros = Buffer.alloc(MiB);
  for (let i = 0; i < count; i++) {
    let entryWritten!: (err?: Error | null) => void;
    const finished = new Promise<void>((resolve, reject) => (entryWritten = (err) => (err ? reject(err) : resolve())));
    const entry = pack.entry({ name: `zeros-${i}.png`, size: bytes, mtime: new Date(0) }, (err) => entryWritten(err));
    for (let left = bytes; left > 0; left -= zeros.length) {
      if (!entry.write(zeros.subarray(0, Math.min(left, zeros.length)))) await new Promise((resolve) => entry.once('drain', resolve));
    }
    entry.end();
    await finished;
  }
  pack.finalize();
  await written;
}
