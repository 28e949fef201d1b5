import { crc32 } from 'node:zlib';
import { PythonRandom } from '../random';
import { accumulateEmbeddings } from './accumulate-embeddings';
import { createGaussianAccumulator, sliceAccumulator, type GaussianAccumulator } from './gaussian-accumulator';
import {
  ACCUMULATOR_HEADER_BYTES,
  accumulatorLayout,
  decodeAccumulatorPayload,
  deserializeAccumulator,
  encodeAccumulatorHeader,
  encodeAccumulatorPayload,
  readAccumulatorHeader,
  serializeAccumulator,
} from './serialize-accumulator';

function randomAccumulator(positions: number, dim: number, samples: number, seed: number): GaussianAccumulator {
  const rng = new PythonRandom(seed);
  const acc = createGaussianAccumulator(positions, dim);
  const batch = Float32Array.from({ length: samples * dim * positions }, () => rng.gauss() * 3 + 1);
  return accumulateEmbeddings(acc, batch, samples);
}

function bytesOf(a: Float64Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

describe('accumulator serialisation', () => {
  it('layout: 64-byte header, (d + T)·8 bytes per position', () => {
    expect(accumulatorLayout(4096, 100)).toEqual({
      headerBytes: 64,
      bytesPerPosition: (100 + 5050) * 8,
      payloadBytes: 4096 * 41200,
      totalBytes: 64 + 4096 * 41200,
    });
    expect(() => accumulatorLayout(0, 3)).toThrow(/positions must be an integer/);
  });

  it('round trips bit-exactly, including awkward values', () => {
    const acc = randomAccumulator(5, 7, 9, 1);
    acc.mean[0] = -0;
    acc.comoment[3] = Number.MIN_VALUE;
    acc.comoment[4] = 1e308;
    const bytes = serializeAccumulator(acc);
    expect(bytes.length).toBe(accumulatorLayout(5, 7).totalBytes);
    const back = deserializeAccumulator(bytes);
    expect([back.positions, back.dim, back.count]).toEqual([5, 7, 9]);
    expect(bytesOf(back.mean)).toEqual(bytesOf(acc.mean));
    expect(bytesOf(back.comoment)).toEqual(bytesOf(acc.comoment));
    expect(Object.is(back.mean[0], -0)).toBe(true);
  });

  it('reads from an unaligned view inside a larger buffer', () => {
    const acc = randomAccumulator(3, 4, 5, 2);
    const bytes = serializeAccumulator(acc);
    const host = new Uint8Array(bytes.length + 3);
    host.set(bytes, 3);
    const back = deserializeAccumulator(host.subarray(3));
    expect(bytesOf(back.comoment)).toEqual(bytesOf(acc.comoment));
  });

  it('stores positions [a, b) as one contiguous byte range at header + a·bytesPerPosition', () => {
    const acc = randomAccumulator(10, 5, 6, 3);
    const bytes = serializeAccumulator(acc);
    const { headerBytes, bytesPerPosition } = accumulatorLayout(10, 5);
    const range = bytes.subarray(headerBytes + 3 * bytesPerPosition, headerBytes + 7 * bytesPerPosition);
    expect(encodeAccumulatorPayload(acc, 3, 7)).toEqual(range);
    const slice = sliceAccumulator(acc, 3, 7);
    expect(serializeAccumulator(slice).subarray(headerBytes)).toEqual(range);
    expect(decodeAccumulatorPayload(range, { positions: 4, dim: 5, count: acc.count })).toEqual(slice);
    // Per position: d means, then T co-moments.
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    const p = 6;
    expect(view.getFloat64(headerBytes + p * bytesPerPosition + 2 * 8, true)).toBe(acc.mean[p * 5 + 2]);
    expect(view.getFloat64(headerBytes + p * bytesPerPosition + (5 + 1) * 8, true)).toBe(acc.comoment[p * 15 + 1]);
  });

  it('streams: header from an incrementally computed CRC equals serializeAccumulator', () => {
    const acc = randomAccumulator(6, 3, 4, 4);
    let crc = 0;
    const chunks: Uint8Array[] = [];
    for (const [a, b] of [
      [0, 2],
      [2, 3],
      [3, 6],
    ]) {
      const chunk = encodeAccumulatorPayload(acc, a, b);
      crc = crc32(chunk, crc);
      chunks.push(chunk);
    }
    const header = encodeAccumulatorHeader(acc, crc);
    expect(header.length).toBe(ACCUMULATOR_HEADER_BYTES);
    const joined = new Uint8Array(header.length + chunks.reduce((s, c) => s + c.length, 0));
    let o = 0;
    for (const part of [header, ...chunks]) {
      joined.set(part, o);
      o += part.length;
    }
    expect(joined).toEqual(serializeAccumulator(acc));
  });

  it('readAccumulatorHeader reports the metadata without needing the payload', () => {
    const acc = randomAccumulator(4, 3, 11, 5);
    const bytes = serializeAccumulator(acc);
    const header = readAccumulatorHeader(bytes.subarray(0, ACCUMULATOR_HEADER_BYTES));
    expect(header).toEqual({
      version: 1,
      flags: 0,
      headerBytes: 64,
      positions: 4,
      dim: 3,
      count: 11,
      payloadBytes: accumulatorLayout(4, 3).payloadBytes,
      payloadCrc32: crc32(bytes.subarray(ACCUMULATOR_HEADER_BYTES)),
    });
    expect(String.fromCharCode(...bytes.subarray(0, 6))).toBe('PDMACC');
  });

  describe('rejects damaged input with a message that says what is wrong', () => {
    const good = serializeAccumulator(randomAccumulator(3, 4, 5, 6));

    /** Rewrites the header CRC after an edit, so only the intended defect remains. */
    function withHeaderEdit(edit: (view: DataView) => void): Uint8Array {
      const bytes = good.slice();
      const view = new DataView(bytes.buffer);
      edit(view);
      view.setUint32(44, crc32(bytes.subarray(0, 44)), true);
      return bytes;
    }

    it('wrong magic', () => {
      const bytes = good.slice();
      bytes[0] = 0x51;
      expect(() => deserializeAccumulator(bytes)).toThrow(/expected magic "PDMACC", found bytes \[51 44 4d 41 43 43\]/);
    });

    it('unsupported version', () => {
      const bytes = withHeaderEdit((v) => v.setUint16(6, 2, true));
      expect(() => deserializeAccumulator(bytes)).toThrow(/Unsupported accumulator format version 2; this build reads version 1/);
    });

    it('truncated header and truncated payload', () => {
      expect(() => deserializeAccumulator(good.subarray(0, 10))).toThrow(/truncated: 10 bytes, shorter than the 64-byte header/);
      expect(() => deserializeAccumulator(good.subarray(0, good.length - 1))).toThrow(
        new RegExp(`truncated: ${good.length - 1} bytes, the header describes ${good.length}`),
      );
    });

    it('trailing bytes', () => {
      const bytes = new Uint8Array(good.length + 2);
      bytes.set(good);
      expect(() => deserializeAccumulator(bytes)).toThrow(/2 unexpected trailing bytes/);
    });

    it('a flipped payload bit fails the checksum', () => {
      const bytes = good.slice();
      bytes[ACCUMULATOR_HEADER_BYTES + 17] ^= 0x04;
      expect(() => deserializeAccumulator(bytes)).toThrow(/payload checksum mismatch: CRC-32 is 0x[0-9a-f]{8}, the header records 0x[0-9a-f]{8}/);
    });

    it('a flipped header bit fails the header checksum', () => {
      const bytes = good.slice();
      bytes[20] ^= 0x01;
      expect(() => deserializeAccumulator(bytes)).toThrow(/header is corrupted/);
    });

    it('unknown flags and an inconsistent payload length', () => {
      expect(() => deserializeAccumulator(withHeaderEdit((v) => v.setUint16(8, 1, true)))).toThrow(/unknown flags/);
      expect(() => deserializeAccumulator(withHeaderEdit((v) => v.setBigUint64(32, 8n, true)))).toThrow(
        /inconsistent: payload length 8 but positions=3, dim=4 need/,
      );
    });
  });
});
