import { layOutMemory } from '../wasm/kernel-layout';
import { SharedInstance, growMemoryTo, instanceFor, WASM_PAGE_BYTES as PAGE_BYTES } from '../wasm/wasm-module';
import { PNG_UNFILTER_LAYOUT, PNG_UNFILTER_WASM_BASE64 } from './png-unfilter-wasm';

/**
 * Undoes PNG's per-row filters (PNG spec §9: None, Sub, Up, Average, Paeth; the row above row 0 and
 * the bytes left of each row are zero) on an inflated IDAT stream of a non-interlaced image with
 * whole bytes per pixel (bit depth 8, or 16 as bytesPerPixel counts bytes).
 *
 * Runs in the wasm SIMD kernel of png-unfilter.wat (sixteen rows at a time on a diagonal wavefront,
 * so even grey Paeth goes sixteen bytes per step) where available, else in unfilterPngScalar, which
 * gives identical bytes.
 *
 * @param raw           height rows of one filter-type byte followed by width·bytesPerPixel bytes
 * @param out           optional destination of height·width·bytesPerPixel bytes
 * @returns             the unfiltered pixels, rows packed (`out` when given)
 * @throws RangeError   on a filter type other than 0..4 (naming the row), or on a `raw` or `out`
 *                      of the wrong length
 */
export function unfilterPng(raw: Uint8Array, width: number, height: number, bytesPerPixel: 1 | 2 | 3 | 4, out?: Uint8Array): Uint8Array {
  const dst = check('unfilterPng', raw, width, height, bytesPerPixel, out);
  return unfilterWasm(raw, width * bytesPerPixel, height, bytesPerPixel, dst) ?? unfilterScalar(raw, width * bytesPerPixel, height, bytesPerPixel, dst);
}

/** The scalar JS twin of unfilterPng (same bytes, same errors), used where wasm is unavailable. */
export function unfilterPngScalar(raw: Uint8Array, width: number, height: number, bytesPerPixel: 1 | 2 | 3 | 4, out?: Uint8Array): Uint8Array {
  const dst = check('unfilterPngScalar', raw, width, height, bytesPerPixel, out);
  return unfilterScalar(raw, width * bytesPerPixel, height, bytesPerPixel, dst);
}

function check(name: string, raw: Uint8Array, width: number, height: number, bpp: number, out: Uint8Array | undefined): Uint8Array {
  for (const [label, v] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name}: ${label} must be a positive integer, got ${v}`);
  }
  if (bpp !== 1 && bpp !== 2 && bpp !== 3 && bpp !== 4) throw new RangeError(`${name}: bytesPerPixel must be 1, 2, 3 or 4, got ${bpp}`);
  const rowLen = width * bpp;
  const expected = height * (rowLen + 1);
  if (raw.length !== expected) {
    throw new RangeError(`${name}: raw has ${raw.length} bytes, expected height·(1 + width·bytesPerPixel) = ${height}·(1 + ${width}·${bpp}) = ${expected}`);
  }
  if (out && out.length !== height * rowLen) {
    throw new RangeError(`${name}: out has ${out.length} bytes, expected height·width·bytesPerPixel = ${height * rowLen}`);
  }
  for (let y = 0; y < height; y++) {
    const f = raw[y * (rowLen + 1)];
    if (f > 4) throw new RangeError(`${name}: row ${y} has filter type ${f}, expected 0..4 (None, Sub, Up, Average, Paeth)`);
  }
  return out ?? new Uint8Array(height * rowLen);
}

function unfilterScalar(raw: Uint8Array, rowLen: number, height: number, bpp: number, out: Uint8Array): Uint8Array {
  for (let y = 0; y < height; y++) {
    const r = y * (rowLen + 1) + 1;
    const o = y * rowLen;
    const p = o - rowLen; // the row above; row 0 reads zeros instead
    const first = y === 0;
    switch (raw[r - 1]) {
      case 0:
        out.set(raw.subarray(r, r + rowLen), o);
        break;
      case 1:
        for (let i = 0; i < bpp; i++) out[o + i] = raw[r + i];
        for (let i = bpp; i < rowLen; i++) out[o + i] = raw[r + i] + out[o + i - bpp];
        break;
      case 2:
        if (first) out.set(raw.subarray(r, r + rowLen), o);
        else for (let i = 0; i < rowLen; i++) out[o + i] = raw[r + i] + out[p + i];
        break;
      case 3:
        if (first) {
          for (let i = 0; i < bpp; i++) out[o + i] = raw[r + i];
          for (let i = bpp; i < rowLen; i++) out[o + i] = raw[r + i] + (out[o + i - bpp] >> 1);
        } else {
          for (let i = 0; i < bpp; i++) out[o + i] = raw[r + i] + (out[p + i] >> 1);
          for (let i = bpp; i < rowLen; i++) out[o + i] = raw[r + i] + ((out[o + i - bpp] + out[p + i]) >> 1);
        }
        break;
      default:
        // Paeth (4). On row 0 b = c = 0, so the predictor is a: Sub.
        if (first) {
          for (let i = 0; i < bpp; i++) out[o + i] = raw[r + i];
          for (let i = bpp; i < rowLen; i++) out[o + i] = raw[r + i] + out[o + i - bpp];
        } else {
          // Left of the row a = c = 0, so the predictor is b: Up.
          for (let i = 0; i < bpp; i++) out[o + i] = raw[r + i] + out[p + i];
          for (let i = bpp; i < rowLen; i++) {
            const a = out[o + i - bpp];
            const b = out[p + i];
            const c = out[p + i - bpp];
            const pa = Math.abs(b - c);
            const pb = Math.abs(a - c);
            const pc = Math.abs(a + b - 2 * c);
            out[o + i] = raw[r + i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          }
        }
    }
  }
  return out;
}

interface KernelExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  unfilter(rowLen: number, height: number, bpp: number, scr: number, rawOff: number, padOff: number, outOff: number): void;
}

/** Wasm offsets are i32 and the kernel adds to them: past this the scalar path is used. */
const MAX_KERNEL_BYTES = 2 ** 31 - PAGE_BYTES;

/** A memory grown past this is not kept: a larger image gets an instance of its own, freed after. */
const KEEP_BYTES = 64 * 2 ** 20;

const shared: SharedInstance<KernelExports> = {};

/** The shared instance, or a fresh one when `bytes` exceeds KEEP_BYTES; null where wasm is unavailable. */
function instance(bytes: number): KernelExports | null {
  return instanceFor(shared, PNG_UNFILTER_WASM_BASE64, bytes, KEEP_BYTES);
}

/** The kernel's memory for `rawBytes` of filtered rows of `rowLen` bytes (the `unfilter` layout of png-unfilter.wat). */
export function unfilterLayout(rawBytes: number, rowLen: number, height: number) {
  const { SCRATCH_BYTES, PAD_LEAD_BYTES, PAD_EXTRA_ROWS, ROW_PADDING } = PNG_UNFILTER_LAYOUT.constants;
  return layOutMemory(PNG_UNFILTER_LAYOUT.layouts.unfilter, {
    scr: SCRATCH_BYTES,
    raw: rawBytes,
    pad: PAD_LEAD_BYTES + (height + PAD_EXTRA_ROWS) * (rowLen + ROW_PADDING),
    out: height * rowLen,
  });
}

/** Unfilters in the kernel; null where it is unavailable. */
function unfilterWasm(raw: Uint8Array, rowLen: number, height: number, bpp: number, out: Uint8Array): Uint8Array | null {
  const { offsets, total } = unfilterLayout(raw.length, rowLen, height);
  const { scr: scrOff, raw: rawOff, pad: padOff, out: outOff } = offsets;
  if (total > MAX_KERNEL_BYTES) return null;
  const wasm = instance(total);
  if (!wasm || !growMemoryTo(wasm, total)) return null;
  const buffer = wasm.memory.buffer;
  new Uint8Array(buffer, rawOff, raw.length).set(raw);
  wasm.unfilter(rowLen, height, bpp, scrOff, rawOff, padOff, outOff);
  out.set(new Uint8Array(buffer, outOff, height * rowLen));
  return out;
}
