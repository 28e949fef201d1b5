import { layOutMemory } from '../wasm/kernel-layout';
import { SharedInstance, growMemoryTo, instanceFor, WASM_PAGE_BYTES as PAGE_BYTES } from '../wasm/wasm-module';
import { RESIZE_PIL_LAYOUT, RESIZE_PIL_WASM_BASE64 } from './resize-pil-wasm';

/**
 * Pillow's `Image.resize((outWidth, outHeight), Image.BILINEAR)` on 8-bit images, exactly: what
 * torchvision's Resize does to a PIL image. That is ImagingResample (libImaging/Resample.c) with the
 * triangle filter: support 1 widened by the downscale factor, coefficients normalised to sum 1 then
 * to fixed point with 22 fractional bits, a horizontal pass into a rounded uint8 intermediate (only
 * the rows the vertical pass reads), then the vertical pass; a pass whose size does not change is
 * skipped, and an unchanged size returns a copy of `src`.
 *
 * Channels are resampled independently (no alpha premultiplication, which Pillow's Python layer adds
 * for LA and RGBA). Both passes run in the wasm kernels of resize-pil.wat where WebAssembly SIMD is
 * available, else in resizePilScalar, which gives identical bytes.
 *
 * @param src HWC interleaved bytes, width·height·channels
 * @returns   HWC interleaved bytes, outWidth·outHeight·channels
 */
export function resizePil(src: Uint8Array, width: number, height: number, channels: 1 | 2 | 3 | 4, outWidth: number, outHeight: number): Uint8Array {
  check('resizePil', src, width, height, channels, outWidth, outHeight);
  if (outWidth === width && outHeight === height) return src.slice();
  return resizeWasm(src, width, height, channels, outWidth, outHeight) ?? resizeScalar(src, width, height, channels, outWidth, outHeight);
}

/** The scalar JS twin of resizePil (same bytes), used where wasm is unavailable. */
export function resizePilScalar(src: Uint8Array, width: number, height: number, channels: 1 | 2 | 3 | 4, outWidth: number, outHeight: number): Uint8Array {
  check('resizePilScalar', src, width, height, channels, outWidth, outHeight);
  if (outWidth === width && outHeight === height) return src.slice();
  return resizeScalar(src, width, height, channels, outWidth, outHeight);
}

/** Pillow's PRECISION_BITS for 8-bit images: 32 − 8 − 2. */
const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);

/** One axis' fixed-point coefficients: output o reads `counts[o]` inputs from `mins[o]`. */
interface AxisCoeffs {
  /** Fixed-point weights, K per output (taps, then zeros), for outSize rounded up to four outputs. */
  kk: Int32Array;
  /** First input of each output (0 for the padding outputs). */
  mins: Int32Array;
  /** Taps of each output (0 for the padding outputs). */
  counts: Int32Array;
  /** Coefficients per output: the most taps, rounded up to a multiple of four. */
  K: number;
}

const COEFF_CACHE_LIMIT = 64;
const coeffCache = new Map<string, AxisCoeffs>();

/**
 * Pillow's precompute_coeffs for the bilinear filter over the full axis (box 0..inSize), then
 * normalize_coeffs_8bpc; cached per (inSize, outSize).
 */
function axisCoeffs(inSize: number, outSize: number): AxisCoeffs {
  const key = `${inSize}:${outSize}`;
  const cached = coeffCache.get(key);
  if (cached) return cached;
  // filterscale = scale = (in1 − in0) / outSize, at least 1; support = 1 (bilinear) · filterscale.
  // (in1 − in0) is float arithmetic in Pillow (the box is float[4]).
  const scale = Math.fround(inSize) / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const ss = 1 / filterscale;
  const outPadded = Math.ceil(outSize / 4) * 4;
  const mins = new Int32Array(outPadded);
  const counts = new Int32Array(outPadded);
  const pre = new Float64Array(outSize * ksize);
  let maxTaps = 1;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // (int) casts truncate toward zero.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    const k = xx * ksize;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = triangle((x + xmin - center + 0.5) * ss);
      pre[k + x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) if (ww !== 0) pre[k + x] /= ww;
    mins[xx] = xmin;
    counts[xx] = xmax;
    if (xmax > maxTaps) maxTaps = xmax;
  }
  const K = Math.ceil(maxTaps / 4) * 4;
  const kk = new Int32Array(outPadded * K);
  for (let xx = 0; xx < outSize; xx++) {
    for (let x = 0; x < counts[xx]; x++) {
      const p = pre[xx * ksize + x];
      kk[xx * K + x] = p < 0 ? Math.trunc(-0.5 + p * (1 << PRECISION_BITS)) : Math.trunc(0.5 + p * (1 << PRECISION_BITS));
    }
  }
  const coeffs = { kk, mins, counts, K };
  if (coeffCache.size >= COEFF_CACHE_LIMIT) coeffCache.clear();
  coeffCache.set(key, coeffs);
  return coeffs;
}

function triangle(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

function resizeScalar(src: Uint8Array, width: number, height: number, channels: number, outWidth: number, outHeight: number): Uint8Array {
  const cy = axisCoeffs(height, outHeight);
  if (outWidth === width) return verticalScalar(src, width * channels, cy, 0, outHeight);
  const cx = axisCoeffs(width, outWidth);
  if (outHeight === height) return horizontalScalar(src, width, channels, 0, height, cx, outWidth);
  // Only the rows the vertical pass reads.
  const first = cy.mins[0];
  const last = cy.mins[outHeight - 1] + cy.counts[outHeight - 1];
  const tmp = horizontalScalar(src, width, channels, first, last - first, cx, outWidth);
  return verticalScalar(tmp, outWidth * channels, cy, first, outHeight);
}

function horizontalScalar(src: Uint8Array, width: number, channels: number, firstRow: number, rows: number, cx: AxisCoeffs, outWidth: number): Uint8Array {
  const { kk, mins, counts, K } = cx;
  const inRow = width * channels;
  const outRow = outWidth * channels;
  const out = new Uint8Array(rows * outRow);
  for (let y = 0; y < rows; y++) {
    const s0 = (firstRow + y) * inRow;
    const o0 = y * outRow;
    for (let xx = 0; xx < outWidth; xx++) {
      const k = xx * K;
      const n = counts[xx];
      const s = s0 + mins[xx] * channels;
      for (let c = 0; c < channels; c++) {
        let ss = HALF;
        for (let x = 0; x < n; x++) ss += src[s + x * channels + c] * kk[k + x];
        out[o0 + xx * channels + c] = clip8(ss);
      }
    }
  }
  return out;
}

/** `src` rows start at input row `firstRow` (the horizontal pass kept only the rows read). */
function verticalScalar(src: Uint8Array, rowBytes: number, cy: AxisCoeffs, firstRow: number, outHeight: number): Uint8Array {
  const out = new Uint8Array(outHeight * rowBytes);
  verticalRowsScalar(src, rowBytes, cy, firstRow, 0, outHeight, out);
  return out;
}

/** Output rows yy0..yy1 − 1 of the vertical pass into `out` (row yy0 first); `src` rows start at input row `firstRow`. */
function verticalRowsScalar(src: Uint8Array, rowBytes: number, cy: AxisCoeffs, firstRow: number, yy0: number, yy1: number, out: Uint8Array): void {
  const { kk, mins, counts, K } = cy;
  const acc = new Int32Array(rowBytes);
  for (let yy = yy0; yy < yy1; yy++) {
    acc.fill(HALF);
    const k = yy * K;
    const s0 = (mins[yy] - firstRow) * rowBytes;
    for (let y = 0; y < counts[yy]; y++) {
      const w = kk[k + y];
      const s = s0 + y * rowBytes;
      for (let i = 0; i < rowBytes; i++) acc[i] += src[s + i] * w;
    }
    const o = (yy - yy0) * rowBytes;
    for (let i = 0; i < rowBytes; i++) out[o + i] = clip8(acc[i]);
  }
}

/** resizePil fed a few rows at a time: see resizePilByRows. */
export interface PilRowResize {
  /** The next whole input rows, top to bottom: rows·width·channels bytes (copied; the caller may reuse it). */
  push(rows: Uint8Array): void;
  /** After the last row: the image resized, outWidth·outHeight·channels bytes. */
  finish(): Uint8Array;
}

/**
 * resizePil on an image given a band of rows at a time, to the same bytes, holding only a band and
 * the few rows the vertical pass still needs: Pillow's horizontal pass works on each row alone (it runs
 * on each band as it comes, in the wasm kernel), and each output row of the vertical pass reads a
 * window of the horizontal pass' rounded rows that only moves down, so it is computed (in the wasm
 * kernel too) as soon as its window is in, and the rows above every later window are dropped.
 *
 * @throws RangeError on bad sizes, a push that is not whole rows or goes past `height`, or finish
 *   before every row was pushed
 */
export function resizePilByRows(width: number, height: number, channels: 1 | 2 | 3 | 4, outWidth: number, outHeight: number): PilRowResize {
  return byRows('resizePilByRows', width, height, channels, outWidth, outHeight, true);
}

/** The scalar JS twin of resizePilByRows (same bytes), used where wasm is unavailable. */
export function resizePilByRowsScalar(width: number, height: number, channels: 1 | 2 | 3 | 4, outWidth: number, outHeight: number): PilRowResize {
  return byRows('resizePilByRowsScalar', width, height, channels, outWidth, outHeight, false);
}

function byRows(name: string, width: number, height: number, channels: 1 | 2 | 3 | 4, outWidth: number, outHeight: number, wasm: boolean): PilRowResize {
  check(name, null, width, height, channels, outWidth, outHeight);
  const inRow = width * channels;
  const rowBytes = outWidth * channels;
  const cy = axisCoeffs(height, outHeight);
  const out = new Uint8Array(outHeight * rowBytes);
  let received = 0;
  let nextOut = 0;
  // The horizontal pass' rows windowFirst .. windowFirst + windowRows − 1 (outWidth wide).
  let window = new Uint8Array(0);
  let windowFirst = 0;
  let windowRows = 0;
  return {
    push(rows) {
      const n = rows.length / inRow;
      if (!Number.isInteger(n) || n === 0) throw new RangeError(`${name}: push takes whole rows of ${inRow} bytes, got ${rows.length}`);
      if (received + n > height) throw new RangeError(`${name}: ${received + n} rows pushed, the image has ${height}`);
      const resized = outWidth === width ? rows : (wasm ? resizePil : resizePilScalar)(rows, width, n, channels, outWidth, n);
      // Keep the rows still needed (from the first that the next output row reads), then append the new ones.
      const keepFrom = nextOut < outHeight ? Math.min(Math.max(windowFirst, cy.mins[nextOut]), received) : received;
      const keepStart = (keepFrom - windowFirst) * rowBytes;
      const keepBytes = windowRows * rowBytes - keepStart;
      const needed = keepBytes + n * rowBytes;
      if (window.length >= needed) {
        window.copyWithin(0, keepStart, keepStart + keepBytes);
      } else {
        const grown = new Uint8Array(needed);
        grown.set(window.subarray(keepStart, keepStart + keepBytes));
        window = grown;
      }
      window.set(resized.subarray(0, n * rowBytes), keepBytes);
      windowFirst = keepFrom;
      windowRows = needed / rowBytes;
      received += n;
      let ready = nextOut;
      while (ready < outHeight && cy.mins[ready] + cy.counts[ready] <= received) ready++;
      if (ready > nextOut) {
        const rowsOut = out.subarray(nextOut * rowBytes, ready * rowBytes);
        const rowsIn = window.subarray(0, windowRows * rowBytes);
        if (!wasm || !verticalRowsWasm(rowsIn, rowBytes, cy, windowFirst, nextOut, ready, rowsOut)) {
          verticalRowsScalar(rowsIn, rowBytes, cy, windowFirst, nextOut, ready, rowsOut);
        }
        nextOut = ready;
      }
    },
    finish() {
      if (received !== height) throw new RangeError(`${name}: finish after ${received} of ${height} rows`);
      return out;
    },
  };
}

/** Pillow's clip8: the sum's integer part (arithmetic shift), clipped to 0..255. */
function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

export interface ResizeKernelExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  horizontal1(src: number, inW: number, rows: number, dst: number, outW: number, coef: number, mins: number, K: number): void;
  horizontalN(src: number, inW: number, rows: number, channels: number, dst: number, outW: number, coef: number, mins: number, counts: number, K: number): void;
  vertical(src: number, rowBytes: number, dst: number, outH: number, coef: number, mins: number, counts: number, K: number): void;
}

/** Wasm offsets are i32 and the kernels add to them: past this the scalar path is used. */
const MAX_KERNEL_BYTES = 2 ** 31 - PAGE_BYTES;

/** A memory grown past this is not kept: a larger image gets an instance of its own, freed after. */
const KEEP_BYTES = 64 * 2 ** 20;

const shared: SharedInstance<ResizeKernelExports> = {};

/** The shared instance, or a fresh one when `bytes` exceeds KEEP_BYTES; null where wasm is unavailable. */
function instance(bytes: number): ResizeKernelExports | null {
  return instanceFor(shared, RESIZE_PIL_WASM_BASE64, bytes, KEEP_BYTES);
}

/** An instance whose memory holds `bytes`; null where wasm is unavailable or the memory cannot grow to it. */
function instanceWithMemory(bytes: number): ResizeKernelExports | null {
  if (bytes > MAX_KERNEL_BYTES) return null;
  const wasm = instance(bytes);
  return wasm && growMemoryTo(wasm, bytes) ? wasm : null;
}

/**
 * The coefficients and the kernel's memory for resizing width×height to outWidth×outHeight (the
 * `resize` layout of resize-pil.wat): each region's bytes (null: absent, its pass is skipped) and offset.
 */
export function resizeLayout(width: number, height: number, channels: number, outWidth: number, outHeight: number) {
  const needH = outWidth !== width;
  const needV = outHeight !== height;
  const cy = axisCoeffs(height, outHeight);
  const cx = needH ? axisCoeffs(width, outWidth) : null;
  // With both passes, the horizontal one covers only the rows the vertical one reads.
  const first = needH && needV ? cy.mins[0] : 0;
  const last = needH && needV ? cy.mins[outHeight - 1] + cy.counts[outHeight - 1] : height;
  const tmpRows = last - first;
  const bytes = {
    cx: cx ? cx.kk.byteLength : null,
    cxMins: cx ? cx.mins.byteLength : null,
    cxCounts: cx ? cx.counts.byteLength : null,
    cy: needV ? cy.kk.byteLength : null,
    cyMins: needV ? cy.mins.byteLength : null,
    cyCounts: needV ? cy.counts.byteLength : null,
    src: width * height * channels,
    tmp: needH && needV ? tmpRows * outWidth * channels : null,
    out: outWidth * outHeight * channels,
  };
  return { needH, needV, cx, cy, first, tmpRows, bytes, ...layOutMemory(RESIZE_PIL_LAYOUT.layouts.resize, bytes) };
}

/**
 * Lays out coefficients, source, intermediate and output in the memory of the instance `instanceWith`
 * gives for the layout's total bytes (by default the shared one); null where wasm is unavailable.
 */
export function resizeWasm(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outWidth: number,
  outHeight: number,
  instanceWith: (bytes: number) => ResizeKernelExports | null = instanceWithMemory,
): Uint8Array | null {
  const { needH, needV, cx, cy, first, tmpRows, bytes, offsets, total } = resizeLayout(width, height, channels, outWidth, outHeight);
  const { cx: cxOff, cxMins, cxCounts, cy: cyOff, cyMins, cyCounts, src: srcOff, out: outOff } = offsets;
  // With one pass only, the vertical one reads the source itself.
  const tmpOff = needH && needV ? offsets.tmp : srcOff;
  const outLen = bytes.out;
  const wasm = instanceWith(total);
  if (!wasm) return null;
  const buffer = wasm.memory.buffer;
  new Uint8Array(buffer, srcOff, src.length).set(src);
  if (cx) {
    new Int32Array(buffer, cxOff, cx.kk.length).set(cx.kk);
    new Int32Array(buffer, cxMins, cx.mins.length).set(cx.mins);
    new Int32Array(buffer, cxCounts, cx.counts.length).set(cx.counts);
    const hDst = needV ? tmpOff : outOff;
    const hSrc = srcOff + first * width * channels;
    if (channels === 1) wasm.horizontal1(hSrc, width, tmpRows, hDst, outWidth, cxOff, cxMins, cx.K);
    else wasm.horizontalN(hSrc, width, tmpRows, channels, hDst, outWidth, cxOff, cxMins, cxCounts, cx.K);
  }
  if (needV) {
    // Row indices relative to the rows the horizontal pass kept.
    const mins = first === 0 ? cy.mins : cy.mins.map((m) => m - first);
    new Int32Array(buffer, cyOff, cy.kk.length).set(cy.kk);
    new Int32Array(buffer, cyMins, mins.length).set(mins);
    new Int32Array(buffer, cyCounts, cy.counts.length).set(cy.counts);
    wasm.vertical(tmpOff, outWidth * channels, outOff, outHeight, cyOff, cyMins, cyCounts, cy.K);
  }
  return new Uint8Array(buffer, outOff, outLen).slice();
}

/** verticalRowsScalar in the wasm kernel: false where it is unavailable. */
function verticalRowsWasm(src: Uint8Array, rowBytes: number, cy: AxisCoeffs, firstRow: number, yy0: number, yy1: number, out: Uint8Array): boolean {
  const rows = yy1 - yy0;
  const K = cy.K;
  const { offsets, total } = layOutMemory(RESIZE_PIL_LAYOUT.layouts.rows, {
    coef: rows * K * 4,
    mins: rows * 4,
    counts: rows * 4,
    src: src.length,
    out: rows * rowBytes,
  });
  const { coef: coefOff, mins: minsOff, counts: countsOff, src: srcOff, out: outOff } = offsets;
  const wasm = instanceWithMemory(total);
  if (!wasm) return false;
  const buffer = wasm.memory.buffer;
  // The kernel reads output y's taps at coef + y·K·4 and its rows from src + mins[y]·rowBytes.
  new Int32Array(buffer, coefOff, rows * K).set(cy.kk.subarray(yy0 * K, yy1 * K));
  const mins = new Int32Array(buffer, minsOff, rows);
  for (let y = 0; y < rows; y++) mins[y] = cy.mins[yy0 + y] - firstRow;
  new Int32Array(buffer, countsOff, rows).set(cy.counts.subarray(yy0, yy1));
  new Uint8Array(buffer, srcOff, src.length).set(src);
  wasm.vertical(srcOff, rowBytes, outOff, rows, coefOff, minsOff, countsOff, K);
  out.set(new Uint8Array(buffer, outOff, rows * rowBytes));
  return true;
}

/** `src` null: the sizes only. */
function check(name: string, src: Uint8Array | null, width: number, height: number, channels: number, outWidth: number, outHeight: number): void {
  for (const [label, v] of [
    ['width', width],
    ['height', height],
    ['outWidth', outWidth],
    ['outHeight', outHeight],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name}: ${label} must be a positive integer, got ${v}`);
  }
  if (channels !== 1 && channels !== 2 && channels !== 3 && channels !== 4) {
    throw new RangeError(`${name}: channels must be 1, 2, 3 or 4, got ${channels}`);
  }
  if (src && src.length !== width * height * channels) {
    throw new RangeError(
      `${name}: src has ${src.length} bytes, expected width·height·channels = ${width}·${height}·${channels} = ${width * height * channels}`,
    );
  }
}
