import { readFile } from 'node:fs/promises';

export type NpyDtype = '<f4' | '<f8' | '<i8';
export type NpyData = Float32Array | Float64Array | BigInt64Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const DTYPES: Record<NpyDtype, { bytes: number; make: (buffer: ArrayBuffer) => NpyData }> = {
  '<f4': { bytes: 4, make: (b) => new Float32Array(b) },
  '<f8': { bytes: 8, make: (b) => new Float64Array(b) },
  '<i8': { bytes: 8, make: (b) => new BigInt64Array(b) },
};

function isNpyDtype(descr: string): descr is NpyDtype {
  return Object.prototype.hasOwnProperty.call(DTYPES, descr);
}

/**
 * Parses a NumPy .npy file (format v1, v2 or v3), little-endian float32/float64/int64 in C order.
 * `source` names the data in error messages (a file path, for instance).
 */
export function parseNpy(bytes: Uint8Array, source = 'npy data'): NpyArray {
  function fail(what: string): never {
    throw new Error(`${source}: ${what}`);
  }
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) fail('not a .npy file (bad magic, expected \\x93NUMPY)');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerStart = 10;
    headerLength = view.getUint16(8, true);
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) fail(`truncated header (${bytes.length} bytes)`);
    headerStart = 12;
    headerLength = view.getUint32(8, true);
  } else {
    fail(`unsupported .npy format version ${major}.${bytes[7]} (supported: 1, 2, 3)`);
  }
  const dataStart = headerStart + headerLength;
  if (bytes.length < dataStart) fail(`truncated header (needs ${dataStart} bytes, has ${bytes.length})`);
  // v1/v2 headers are latin1, v3 UTF-8; the fields read here are ASCII in both.
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    fail(`malformed header ${JSON.stringify(header.trim())}`);
  }
  if (fortran === 'True') fail('Fortran-order arrays are not supported (save with C order)');
  if (!isNpyDtype(descr)) fail(`unsupported dtype '${descr}' (supported: ${Object.keys(DTYPES).join(', ')})`);
  const dtype = descr;
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      if (!/^\d+$/.test(s)) fail(`malformed shape (${shapeText})`);
      return Number(s);
    });

  const count = shape.reduce((a, b) => a * b, 1);
  const byteLength = count * DTYPES[dtype].bytes;
  if (bytes.length - dataStart < byteLength) {
    fail(`truncated data: shape [${shape.join(', ')}] ${dtype} needs ${byteLength} bytes, file has ${bytes.length - dataStart}`);
  }
  // Copy into a fresh, aligned buffer: the data offset in the file need not be aligned, and a Node
  // Buffer's slice() would be a view into a shared pool.
  const copy = new Uint8Array(byteLength);
  copy.set(bytes.subarray(dataStart, dataStart + byteLength));
  return { dtype, shape, data: DTYPES[dtype].make(copy.buffer) };
}

export async function readNpyFile(path: string): Promise<NpyArray> {
  return parseNpy(await readFile(path), path);
}
