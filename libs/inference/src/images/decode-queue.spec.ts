import sharp from 'sharp';
import { UnreadableImageError, decodeInOrder } from './decode-queue';

const size = { width: 8, height: 8 };
const png = () =>
  sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 10, g: 20, b: 30 } } })
    .png()
    .toBuffer();

async function decodeAll(files: string[], read: (ref: string) => Promise<Buffer>) {
  const out: { file: string; error?: string }[] = [];
  for await (const d of decodeInOrder(
    files.map((file) => ({ file })),
    size,
    { read, concurrency: 2 },
  ))
    out.push({ file: d.file, error: d.error });
  return out;
}

describe('decodeInOrder with a reader', () => {
  it('fails the whole decode when the reader fails (an unreachable store), instead of reporting a good image as unreadable', async () => {
    const good = await png();
    const read = async (ref: string) => {
      if (ref === 'b.png') throw new Error('S3 get "b.png" failed: read ECONNRESET');
      return good;
    };
    await expect(decodeAll(['a.png', 'b.png', 'c.png'], read)).rejects.toThrow(/ECONNRESET/);
  });

  it('keeps corrupt images as per-file errors and decodes the rest', async () => {
    const good = await png();
    const read = async (ref: string) => (ref === 'bad.png' ? Buffer.from('not an image') : good);
    const out = await decodeAll(['a.png', 'bad.png', 'c.png'], read);
    expect(out.map((d) => [d.file, d.error === undefined])).toEqual([
      ['a.png', true],
      ['bad.png', false],
      ['c.png', true],
    ]);
  });
});

describe('decodeInOrder and UnreadableImageError', () => {
  it('reports an input its reader calls unreadable (gone since listed) as a per-file error', async () => {
    const good = await png();
    const read = async (ref: string) => {
      if (ref === 'gone.png') throw new UnreadableImageError('gone.png: not found in the store');
      return good;
    };
    const out = await decodeAll(['a.png', 'gone.png'], read);
    expect(out).toEqual([
      { file: 'a.png', error: undefined },
      { file: 'gone.png', error: 'gone.png: not found in the store' },
    ]);
  });
});
