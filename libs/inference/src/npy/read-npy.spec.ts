import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { shippedResnet18Dir } from '../config/paths';
import { encodeNpy } from './encode-npy';
import { parseNpy, readNpyFile } from './read-npy';

/** Builds a .npy file by hand, so the parser is checked against the format spec and not only against encodeNpy. */
function npyBytes(header: string, data: Uint8Array, version = 1): Uint8Array {
  const prefix = version === 1 ? 10 : 12;
  const padded = header + ' '.repeat((64 - ((prefix + header.length + 1) % 64)) % 64) + '\n';
  const headerBytes = new TextEncoder().encode(padded);
  const out = new Uint8Array(prefix + headerBytes.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const view = new DataView(out.buffer);
  if (version === 1) view.setUint16(8, headerBytes.length, true);
  else view.setUint32(8, headerBytes.length, true);
  out.set(headerBytes, prefix);
  out.set(data, prefix + headerBytes.length);
  return out;
}

const bytesOf = (a: Float32Array | Float64Array | BigInt64Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('parseNpy', () => {
  it('reads float32 v1 in C order', () => {
    const values = new Float32Array([1, 2, 3, 4, 5, 6.5]);
    const npy = parseNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", bytesOf(values)));
    expect(npy.dtype).toBe('<f4');
    expect(npy.shape).toEqual([2, 3]);
    expect(npy.data).toBeInstanceOf(Float32Array);
    expect(Array.from(npy.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6.5]);
  });

  it('reads float64 v2 and int64 v3', () => {
    const f64 = parseNpy(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", bytesOf(new Float64Array([0.1, -2, 1e300])), 2));
    expect(f64).toEqual({ dtype: '<f8', shape: [3], data: new Float64Array([0.1, -2, 1e300]) });
    const i64 = parseNpy(npyBytes("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 1), }", bytesOf(new BigInt64Array([-5n, 1n << 40n])), 3));
    expect(i64.shape).toEqual([2, 1]);
    expect(Array.from(i64.data as BigInt64Array)).toEqual([-5n, 1n << 40n]);
  });

  it('reads a scalar (shape ()) and an empty array', () => {
    expect(parseNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", bytesOf(new Float32Array([7]))))).toEqual({
      dtype: '<f4',
      shape: [],
      data: new Float32Array([7]),
    });
    expect(parseNpy(npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4), }", new Uint8Array(0))).data.length).toBe(0);
  });

  it('reads data that starts at an unaligned offset in its buffer', () => {
    const file = npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", bytesOf(new Float64Array([1.5, -3])));
    const shifted = new Uint8Array(file.length + 3);
    shifted.set(file, 3);
    expect(Array.from(parseNpy(shifted.subarray(3)).data as Float64Array)).toEqual([1.5, -3]);
  });

  it('round-trips encodeNpy', () => {
    const values = Float32Array.from({ length: 24 }, (_, i) => i * 0.25 - 3);
    const npy = parseNpy(encodeNpy(values, [2, 3, 4]));
    expect(npy.shape).toEqual([2, 3, 4]);
    expect(npy.data).toEqual(values);
  });

  it('names what is wrong', () => {
    const header = (descr: string, fortran = 'False', shape = '(2,)') => `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;
    const eight = new Uint8Array(8);
    expect(() => parseNpy(new TextEncoder().encode('PK\x03\x04 not numpy at all'), 'x.npy')).toThrow(/x\.npy: not a \.npy file \(bad magic/);
    expect(() => parseNpy(npyBytes(header('<f4', 'True'), eight))).toThrow(/Fortran-order/);
    expect(() => parseNpy(npyBytes(header('>f4'), eight))).toThrow(/unsupported dtype '>f4'/);
    expect(() => parseNpy(npyBytes(header('<i4'), eight))).toThrow(/unsupported dtype '<i4'/);
    expect(() => parseNpy(npyBytes(header('<f4', 'False', '(3,)'), eight))).toThrow(/truncated data: shape \[3\] <f4 needs 12 bytes, file has 8/);
    expect(() => parseNpy(npyBytes(header('<f4'), eight, 4))).toThrow(/unsupported \.npy format version 4/);
    expect(() => parseNpy(npyBytes(header('<f4'), eight).subarray(0, 40))).toThrow(/truncated header/);
    expect(() => parseNpy(npyBytes("{'descr': '<f4'}", eight))).toThrow(/malformed header/);
  });
});

describe('readNpyFile', () => {
  it('reads a file and names it in errors', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'npy-'));
    try {
      const file = path.join(dir, 'w.npy');
      await writeFile(file, encodeNpy(new Float32Array([1, 2]), [2]));
      expect(Array.from((await readNpyFile(file)).data as Float32Array)).toEqual([1, 2]);
      await writeFile(file, new Uint8Array([1, 2, 3]));
      await expect(readNpyFile(file)).rejects.toThrow(`${file}: not a .npy file`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('readNpyFile on the shipped ResNet-18 weights', () => {
  it('reads conv1.weight.npy as float32 [64, 3, 7, 7]', async () => {
    const npy = await readNpyFile(path.join(shippedResnet18Dir(), 'conv1.weight.npy'));
    expect(npy.dtype).toBe('<f4');
    expect(npy.shape).toEqual([64, 3, 7, 7]);
    expect(npy.data.length).toBe(64 * 3 * 49);
    const values = Array.from(npy.data as Float32Array);
    expect(values.every(Number.isFinite)).toBe(true);
    expect(Math.max(...values.map(Math.abs))).toBeGreaterThan(0.01);
  });
});
