// zlib's CRC-32 is a pure function of the bytes, native and fast: no I/O.
import { crc32 } from 'node:zlib';
import { triangleSize } from '../linalg';
import { assertAccumulator, type GaussianAccumulator } from './gaussian-accumulator';

/*
 * Binary layout, all little-endian:
 *   0  magic "PDMACC" (6 bytes)     6  format version u16      8  flags u16 (none defined, must be 0)
 *  10  reserved u16 (0)            12  header length u32 (64) 16  positions u32
 *  20  dim u32                     24  count u64              32  payload length u64
 *  40  payload CRC-32 u32          44  CRC-32 of bytes 0..43  48  reserved (16 zero bytes)
 * Payload from byte 64: for each position p, its d means then its T = d(d+1)/2 packed-upper
 * co-moments, all float64. Positions [a, b) are therefore one contiguous byte range, and the
 * payload starts 8-byte aligned.
 */

export const ACCUMULATOR_MAGIC = 'PDMACC';
export const ACCUMULATOR_FORMAT_VERSION = 1;
export const ACCUMULATOR_HEADER_BYTES = 64;

const MAGIC_BYTES = Uint8Array.from(ACCUMULATOR_MAGIC, (ch) => ch.charCodeAt(0));
const HEADER_CRC_OFFSET = 44;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface AccumulatorLayout {
  headerBytes: number;
  /** (d + T) * 8. */
  bytesPerPosition: number;
  payloadBytes: number;
  totalBytes: number;
}

export interface AccumulatorMeta {
  positions: number;
  dim: number;
  count: number;
}

export interface AccumulatorHeader extends AccumulatorMeta {
  version: number;
  flags: number;
  headerBytes: number;
  payloadBytes: number;
  payloadCrc32: number;
}

export function accumulatorLayout(positions: number, dim: number): AccumulatorLayout {
  if (!Number.isSafeInteger(positions) || positions < 1 || positions > 0xffffffff) {
    throw new RangeError(`accumulatorLayout: positions must be an integer in [1, 2^32), got ${positions}`);
  }
  if (!Number.isSafeInteger(dim) || dim < 1 || dim > 0xffffffff) {
    throw new RangeError(`accumulatorLayout: dim must be an integer in [1, 2^32), got ${dim}`);
  }
  const bytesPerPosition = (dim + triangleSize(dim)) * 8;
  const payloadBytes = positions * bytesPerPosition;
  return {
    headerBytes: ACCUMULATOR_HEADER_BYTES,
    bytesPerPosition,
    payloadBytes,
    totalBytes: ACCUMULATOR_HEADER_BYTES + payloadBytes,
  };
}

/** The 64-byte header for an accumulator whose payload has CRC-32 `payloadCrc32`. */
export function encodeAccumulatorHeader(meta: AccumulatorMeta, payloadCrc32: number): Uint8Array {
  const layout = accumulatorLayout(meta.positions, meta.dim);
  if (!Number.isSafeInteger(meta.count) || meta.count < 0) {
    throw new RangeError(`encodeAccumulatorHeader: count must be a non-negative integer, got ${meta.count}`);
  }
  if (!Number.isInteger(payloadCrc32) || payloadCrc32 < 0 || payloadCrc32 > 0xffffffff) {
    throw new RangeError(`encodeAccumulatorHeader: payloadCrc32 must be an unsigned 32-bit integer, got ${payloadCrc32}`);
  }
  const bytes = new Uint8Array(ACCUMULATOR_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC_BYTES, 0);
  view.setUint16(6, ACCUMULATOR_FORMAT_VERSION, true);
  view.setUint16(8, 0, true);
  view.setUint32(12, ACCUMULATOR_HEADER_BYTES, true);
  view.setUint32(16, meta.positions, true);
  view.setUint32(20, meta.dim, true);
  view.setBigUint64(24, BigInt(meta.count), true);
  view.setBigUint64(32, BigInt(layout.payloadBytes), true);
  view.setUint32(40, payloadCrc32, true);
  view.setUint32(HEADER_CRC_OFFSET, crc32(bytes.subarray(0, HEADER_CRC_OFFSET)), true);
  return bytes;
}

/** Parses and checks the header only; the payload need not be present. */
export function readAccumulatorHeader(bytes: Uint8Array): AccumulatorHeader {
  if (bytes.length < ACCUMULATOR_HEADER_BYTES) {
    throw new RangeError(`Accumulator data is truncated: ${bytes.length} bytes, shorter than the ${ACCUMULATOR_HEADER_BYTES}-byte header`);
  }
  for (let i = 0; i < MAGIC_BYTES.length; i++) {
    if (bytes[i] !== MAGIC_BYTES[i]) {
      throw new Error(`Not an accumulator: expected magic "${ACCUMULATOR_MAGIC}", found ${describeMagic(bytes)}`);
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, ACCUMULATOR_HEADER_BYTES);
  const version = view.getUint16(6, true);
  if (version !== ACCUMULATOR_FORMAT_VERSION) {
    throw new Error(`Unsupported accumulator format version ${version}; this build reads version ${ACCUMULATOR_FORMAT_VERSION}`);
  }
  const storedHeaderCrc = view.getUint32(HEADER_CRC_OFFSET, true);
  const headerCrc = crc32(bytes.subarray(0, HEADER_CRC_OFFSET));
  if (storedHeaderCrc !== headerCrc) {
    throw new Error(`Accumulator header is corrupted: header CRC-32 is ${hex(headerCrc)}, the header records ${hex(storedHeaderCrc)}`);
  }
  const flags = view.getUint16(8, true);
  if (flags !== 0) throw new Error(`Accumulator header has unknown flags ${hex(flags)}`);
  const headerBytes = view.getUint32(12, true);
  if (headerBytes !== ACCUMULATOR_HEADER_BYTES) {
    throw new Error(`Accumulator header length is ${headerBytes}, expected ${ACCUMULATOR_HEADER_BYTES} for version ${version}`);
  }
  const positions = view.getUint32(16, true);
  const dim = view.getUint32(20, true);
  const count = toSafeNumber(view.getBigUint64(24, true), 'count');
  const payloadBytes = toSafeNumber(view.getBigUint64(32, true), 'payload length');
  const layout = accumulatorLayout(positions, dim);
  if (payloadBytes !== layout.payloadBytes) {
    throw new Error(`Accumulator header is inconsistent: payload length ${payloadBytes} but positions=${positions}, dim=${dim} need ${layout.payloadBytes}`);
  }
  return { version, flags, headerBytes, positions, dim, count, payloadBytes, payloadCrc32: view.getUint32(40, true) };
}

/** Payload bytes of positions [start, end): the exact slice of the serialised form at header + start*bytesPerPosition. */
export function encodeAccumulatorPayload(acc: GaussianAccumulator, start = 0, end = acc.positions): Uint8Array {
  assertAccumulator(acc);
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > acc.positions || start > end) {
    throw new RangeError(`encodeAccumulatorPayload: need integers 0 <= start <= end <= ${acc.positions}, got [${start}, ${end})`);
  }
  const out = new Uint8Array((end - start) * accumulatorLayout(acc.positions, acc.dim).bytesPerPosition);
  writePayload(acc, start, end, out, 0);
  return out;
}

/** Rebuilds an accumulator (or a position range of one) from payload bytes without a header. */
export function decodeAccumulatorPayload(payload: Uint8Array, meta: AccumulatorMeta): GaussianAccumulator {
  const { positions, dim, count } = meta;
  const layout = accumulatorLayout(positions, dim);
  if (payload.length !== layout.payloadBytes) {
    throw new RangeError(`decodeAccumulatorPayload: got ${payload.length} bytes, positions=${positions}, dim=${dim} need ${layout.payloadBytes}`);
  }
  const T = triangleSize(dim);
  const stride = dim + T;
  const mean = new Float64Array(positions * dim);
  const comoment = new Float64Array(positions * T);
  if (LITTLE_ENDIAN_HOST) {
    const aligned = payload.byteOffset % 8 === 0 ? payload : payload.slice();
    const f64 = new Float64Array(aligned.buffer, aligned.byteOffset, positions * stride);
    for (let p = 0; p < positions; p++) {
      const o = p * stride;
      mean.set(f64.subarray(o, o + dim), p * dim);
      comoment.set(f64.subarray(o + dim, o + stride), p * T);
    }
  } else {
    const view = new DataView(payload.buffer, payload.byteOffset, payload.length);
    for (let p = 0; p < positions; p++) {
      let o = p * stride * 8;
      for (let c = 0; c < dim; c++, o += 8) mean[p * dim + c] = view.getFloat64(o, true);
      for (let t = 0; t < T; t++, o += 8) comoment[p * T + t] = view.getFloat64(o, true);
    }
  }
  const acc = { positions, dim, count, mean, comoment };
  assertAccumulator(acc);
  return acc;
}

export function serializeAccumulator(acc: GaussianAccumulator): Uint8Array {
  assertAccumulator(acc);
  const layout = accumulatorLayout(acc.positions, acc.dim);
  const out = new Uint8Array(layout.totalBytes);
  writePayload(acc, 0, acc.positions, out, layout.headerBytes);
  out.set(encodeAccumulatorHeader(acc, crc32(out.subarray(layout.headerBytes))), 0);
  return out;
}

export function deserializeAccumulator(bytes: Uint8Array): GaussianAccumulator {
  const header = readAccumulatorHeader(bytes);
  const expected = header.headerBytes + header.payloadBytes;
  if (bytes.length < expected) {
    throw new RangeError(
      `Accumulator data is truncated: ${bytes.length} bytes, the header describes ${expected} ` + `(positions=${header.positions}, dim=${header.dim})`,
    );
  }
  if (bytes.length > expected) {
    throw new RangeError(`Accumulator data has ${bytes.length - expected} unexpected trailing bytes after ${expected}`);
  }
  const payload = bytes.subarray(header.headerBytes, expected);
  const actual = crc32(payload);
  if (actual !== header.payloadCrc32) {
    throw new Error(`Accumulator payload checksum mismatch: CRC-32 is ${hex(actual)}, the header records ${hex(header.payloadCrc32)}`);
  }
  return decodeAccumulatorPayload(payload, header);
}

/** Writes positions [start, end) at byte `offset` of `out`; `out.byteOffset + offset` must be 8-aligned on the fast path. */
function writePayload(acc: GaussianAccumulator, start: number, end: number, out: Uint8Array, offset: number): void {
  const d = acc.dim;
  const T = triangleSize(d);
  const stride = d + T;
  const at = out.byteOffset + offset;
  if (LITTLE_ENDIAN_HOST && at % 8 === 0) {
    const f64 = new Float64Array(out.buffer, at, (end - start) * stride);
    for (let p = start; p < end; p++) {
      const o = (p - start) * stride;
      f64.set(acc.mean.subarray(p * d, p * d + d), o);
      f64.set(acc.comoment.subarray(p * T, p * T + T), o + d);
    }
    return;
  }
  const view = new DataView(out.buffer, at, (end - start) * stride * 8);
  let o = 0;
  for (let p = start; p < end; p++) {
    for (let c = 0; c < d; c++, o += 8) view.setFloat64(o, acc.mean[p * d + c], true);
    for (let t = 0; t < T; t++, o += 8) view.setFloat64(o, acc.comoment[p * T + t], true);
  }
}

function toSafeNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`Accumulator header ${what} ${v} exceeds 2^53`);
  return Number(v);
}

function describeMagic(bytes: Uint8Array): string {
  return `bytes [${Array.from(bytes.subarray(0, MAGIC_BYTES.length), (b) => b.toString(16).padStart(2, '0')).join(' ')}]`;
}

function hex(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}
