import { COMOMENT_KERNEL_LAYOUT } from '../gaussian/comoment-kernel-wasm';
import { GRAM_CENTRE_LAYOUT } from '../gaussian/gram-centre-wasm';
import { FINALIZE_KERNEL_LAYOUT, FINALIZE_KERNEL_WASM_BASE64 } from '../gaussian/finalize-kernel-wasm';
import { finalizeLayout, type FinalizeKernelExports } from '../gaussian/finalize-kernel';
import { finalizeGaussian } from '../gaussian/finalize-gaussian';
import { residentComoment } from '../gaussian/comoment-kernel';
import { PNG_UNFILTER_LAYOUT, PNG_UNFILTER_WASM_BASE64 } from '../image/png-unfilter-wasm';
import { unfilterLayout, unfilterPngScalar } from '../image/png-unfilter';
import { type ResizeKernelExports, resizeLayout, resizePilScalar, resizeWasm } from '../image/resize-pil';
import { RESIZE_PIL_LAYOUT, RESIZE_PIL_WASM_BASE64 } from '../image/resize-pil-wasm';
import { MAHALANOBIS_KERNEL_LAYOUT, MAHALANOBIS_KERNEL_WASM_BASE64 } from '../mahalanobis/mahalanobis-kernel-wasm';
import { createMahalanobisKernel, mahalanobisLayout } from '../mahalanobis/mahalanobis-kernel';
import { mulberry32 } from '../random';
import { type KernelLayout, type MemoryLayout, type MemoryRegion, layOutMemory } from './kernel-layout';
import { compileWasmModule, instantiateWasm } from './wasm-module';

const PAGE_BYTES = 65536;
const CANARY = 0xa5;

const KERNEL_LAYOUTS: [string, KernelLayout][] = [
  ['gram-centre.wat', GRAM_CENTRE_LAYOUT],
  ['comoment-kernel.wat', COMOMENT_KERNEL_LAYOUT],
  ['finalize-kernel.wat', FINALIZE_KERNEL_LAYOUT],
  ['mahalanobis-kernel.wat', MAHALANOBIS_KERNEL_LAYOUT],
  ['png-unfilter.wat', PNG_UNFILTER_LAYOUT],
  ['resize-pil.wat', RESIZE_PIL_LAYOUT],
];
const ALL_LAYOUTS = KERNEL_LAYOUTS.flatMap(([wat, kernel]) => Object.entries(kernel.layouts).map(([name, regions]) => [`${wat} ${name}`, regions] as const));

interface KernelMemory {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
}

/** Every present region (bytes not null) aligned, in order, not overlapping, and inside `total`. */
function expectWellFormed<Name extends string>(regions: readonly MemoryRegion<Name>[], bytes: Record<Name, number | null>, layout: MemoryLayout<Name>): void {
  let end = 0;
  for (const region of regions) {
    const size = bytes[region.name];
    if (size === null) continue;
    const at = layout.offsets[region.name];
    expect(at % region.align).toBe(0);
    expect(at).toBeGreaterThanOrEqual(end);
    expect(at - end).toBeLessThan(region.align);
    end = at + size + region.slack;
  }
  expect(layout.total).toBe(end);
}

/** A fresh instance of `base64` whose memory holds `bytes` and one page more, all of it CANARY. */
function canaryInstance<T extends KernelMemory>(base64: string, bytes: number): T {
  const wasm = instantiateWasm<T>(compileWasmModule(base64)!)!;
  wasm.memory.grow(Math.ceil(bytes / PAGE_BYTES) + 1 - wasm.memory.buffer.byteLength / PAGE_BYTES);
  new Uint8Array(wasm.memory.buffer).fill(CANARY);
  return wasm;
}

/** The first address in [from, to) that is no longer CANARY, or -1. */
function firstWritten(buffer: ArrayBuffer, from: number, to: number): number {
  const bytes = new Uint8Array(buffer, from, to - from);
  const i = bytes.findIndex((b) => b !== CANARY);
  return i < 0 ? -1 : from + i;
}

/** Checks the kernel wrote nothing past `total`, nor in an `in` region, nor in the padding between regions. */
function expectWritesInside<Name extends string>(
  buffer: ArrayBuffer,
  regions: readonly MemoryRegion<Name>[],
  bytes: Record<Name, number | null>,
  layout: MemoryLayout<Name>,
  inputs: Partial<Record<Name, Uint8Array>>,
): void {
  let end = 0;
  for (const region of regions) {
    const size = bytes[region.name];
    if (size === null) continue;
    const at = layout.offsets[region.name];
    expect({ padding: region.name, written: firstWritten(buffer, end, at) }).toEqual({ padding: region.name, written: -1 });
    const input = inputs[region.name];
    if (region.access === 'in' && input) {
      expect(new Uint8Array(buffer, at, size).every((b, i) => b === input[i])).toBe(true);
    }
    end = at + size + region.slack;
  }
  expect(firstWritten(buffer, layout.total, buffer.byteLength)).toBe(-1);
}

describe('kernel memory layouts', () => {
  it('lays regions out in order at their alignment, each after the previous one and its slack; absent ones take nothing', () => {
    const regions: MemoryRegion<'a' | 'b' | 'c' | 'd'>[] = [
      { name: 'a', align: 16, slack: 0, access: 'in' },
      { name: 'b', align: 16, slack: 64, access: 'scratch' },
      { name: 'c', align: 8, slack: 0, access: 'in' },
      { name: 'd', align: 16, slack: 3, access: 'out' },
    ];
    // a [0, 5); b absent; c at 8 (5 rounded up to 8) to 11; d at 16 to 17, then 3 bytes of slack.
    expect(layOutMemory(regions, { a: 5, b: null, c: 3, d: 1 })).toEqual({ offsets: { a: 0, b: 0, c: 8, d: 16 }, total: 20 });
    // b [16, 26) then 64 bytes of slack to 90: c at 96 (90 rounded up to 8) to 99, d at 112 to 113, then 3.
    expect(layOutMemory(regions, { a: 5, b: 10, c: 3, d: 1 })).toEqual({ offsets: { a: 0, b: 16, c: 96, d: 112 }, total: 116 });
  });

  it.each(ALL_LAYOUTS)('%s declares distinct regions, power-of-two alignments and whole slack', (_, regions) => {
    expect(regions.length).toBeGreaterThan(0);
    expect(new Set(regions.map((r) => r.name)).size).toBe(regions.length);
    for (const { align, slack } of regions) {
      expect(Number.isInteger(Math.log2(align))).toBe(true);
      expect(Number.isSafeInteger(slack) && slack >= 0).toBe(true);
    }
  });

  it.each(ALL_LAYOUTS)('%s gives aligned, ordered, disjoint regions for odd sizes', (_, regions) => {
    const rnd = mulberry32(regions.length);
    const bytes = Object.fromEntries(regions.map((r) => [r.name, 1 + Math.floor(rnd() * 999)]));
    expectWellFormed(regions, bytes, layOutMemory(regions, bytes));
  });

  it('the co-moment views sit in the kernel memory at the layout of comoment-kernel.wat, and its runs write nothing past them', () => {
    const [P, d, block, maxBatch] = [7, 13, 3, 5];
    const kernel = residentComoment(P, d, block, maxBatch)!;
    const T = (d * (d + 1)) / 2;
    const bytes = { m: P * T * 8, x: block * maxBatch * d * 8, e: block * d * 8, mean: block * d * 8 };
    const layout = layOutMemory(COMOMENT_KERNEL_LAYOUT.layouts.views, bytes);
    expectWellFormed(COMOMENT_KERNEL_LAYOUT.layouts.views, bytes, layout);
    expect([kernel.m, kernel.x, kernel.e, kernel.mean].map((v) => [v.byteOffset, v.byteLength])).toEqual(
      (['m', 'x', 'e', 'mean'] as const).map((name) => [layout.offsets[name], bytes[name]]),
    );
    const buffer = kernel.m.buffer as ArrayBuffer;
    expect(buffer.byteLength).toBeGreaterThanOrEqual(layout.total);
    new Uint8Array(buffer, layout.total).fill(CANARY);

    const rnd = mulberry32(3);
    kernel.x.set(Float64Array.from({ length: kernel.x.length }, () => rnd()));
    kernel.centre(block, d, maxBatch, 0.5);
    kernel.run(block, d, maxBatch, 0.5, P - block);
    expect(firstWritten(buffer, layout.total, buffer.byteLength)).toBe(-1);
    // The run updated the last `block` positions of m, and only those.
    expect(kernel.m.subarray((P - block) * T).some((v) => v !== 0)).toBe(true);
    expect(kernel.m.subarray(0, (P - block) * T).every((v) => v === 0)).toBe(true);
  });

  it.each([
    [1, 1, 8],
    [13, 37, 3],
    [100, 20, 8],
  ])('the Mahalanobis kernel writes only Y and out in the layout of mahalanobis-kernel.wat (d=%i, P=%i, %i images)', (d, P, count) => {
    const { D4, S, offsets, total } = mahalanobisLayout(d, P);
    const { GROUP } = MAHALANOBIS_KERNEL_LAYOUT.constants;
    const regions = MAHALANOBIS_KERNEL_LAYOUT.layouts.group;
    const bytes = { L: P * S * 4, mean: P * d * 4, Y: 16 * D4 * GROUP * 4, E: GROUP * d * P * 4, out: GROUP * P * 4 };
    expectWellFormed(regions, bytes, { offsets, total });
    // The kernel sizes its memory to whole pages that hold the layout.
    const kernel = createMahalanobisKernel(new Float32Array(P * d), new Float32Array((P * d * (d + 1)) / 2), d, P)!;
    expect(kernel.bytes % PAGE_BYTES).toBe(0);
    expect(kernel.bytes).toBeGreaterThanOrEqual(total);
    expect(kernel.bytes - total).toBeLessThan(PAGE_BYTES);
    const wasm = canaryInstance<KernelMemory & { group(...args: number[]): void }>(MAHALANOBIS_KERNEL_WASM_BASE64, total);
    const buffer = wasm.memory.buffer;
    const rnd = mulberry32(d + P);
    const inputs = {
      L: new Uint8Array(Float32Array.from({ length: P * S }, () => rnd()).buffer),
      mean: new Uint8Array(Float32Array.from({ length: P * d }, () => rnd()).buffer),
      E: new Uint8Array(Float32Array.from({ length: GROUP * d * P }, () => rnd()).buffer),
    };
    for (const [name, input] of Object.entries(inputs)) new Uint8Array(buffer, offsets[name as keyof typeof inputs]).set(input);

    wasm.group(count, d, D4, P, 16, offsets.L, offsets.mean, offsets.Y, offsets.E, offsets.out);

    expectWritesInside(buffer, regions, bytes, { offsets, total }, inputs);
    // Distances of the first `count` images were written, the rest of out left alone.
    expect(firstWritten(buffer, offsets.out + count * P * 4, offsets.out + bytes.out)).toBe(-1);
    expect(new Float32Array(buffer, offsets.out, count * P).every((v) => Number.isFinite(v) && v >= 0)).toBe(true);
  });

  it.each([1, 2, 7, 12, 33])('the finalisation kernel reads only what it wrote and writes only chol, inverse and factors (d=%i)', (d) => {
    const { ld, bytes, offsets, total } = finalizeLayout(d);
    const regions = FINALIZE_KERNEL_LAYOUT.layouts.position;
    expectWellFormed(regions, bytes, { offsets, total });
    const wasm = canaryInstance<FinalizeKernelExports>(FINALIZE_KERNEL_WASM_BASE64, total);
    const buffer = wasm.memory.buffer;
    // A diagonally dominant covariance's co-moments after 11 samples.
    const rnd = mulberry32(d);
    const comoment = new Float64Array(bytes.packed / 8);
    for (let i = 0, k = 0; i < d; i++) for (let j = i; j < d; j++) comoment[k++] = i === j ? 10 * (1 + rnd()) : (10 * (rnd() - 0.5)) / d;
    const packed = new Uint8Array(comoment.buffer);
    new Uint8Array(buffer, offsets.packed).set(packed);

    expect(wasm.finalize(d, ld, 1 / 10, 0.01, offsets.packed, offsets.chol, offsets.inverse, offsets.factors)).toBe(-1);

    expectWritesInside(buffer, regions, bytes, { offsets, total }, { packed });
    const scalar = finalizeGaussian({ positions: 1, dim: d, count: 11, mean: new Float64Array(d), comoment }, { wasm: false });
    expect(Buffer.from(buffer, offsets.factors, bytes.factors).equals(Buffer.from(scalar.invCholesky.buffer))).toBe(true);
  });

  it.each([
    [1, 1, 1],
    [5, 3, 1],
    [17, 40, 3],
    [64, 33, 4],
  ])(
    'the PNG kernel unfilters from memory it did not clear and writes only scr, pad and out (width %i, height %i, %i bytes per pixel)',
    (width, height, bpp) => {
      const rowLen = width * bpp;
      const rnd = mulberry32(width * height);
      const raw = Uint8Array.from({ length: height * (rowLen + 1) }, (_, i) => (i % (rowLen + 1) === 0 ? Math.floor(rnd() * 5) : Math.floor(rnd() * 256)));
      const { SCRATCH_BYTES, PAD_LEAD_BYTES, PAD_EXTRA_ROWS, ROW_PADDING } = PNG_UNFILTER_LAYOUT.constants;
      const regions = PNG_UNFILTER_LAYOUT.layouts.unfilter;
      const bytes = { scr: SCRATCH_BYTES, raw: raw.length, pad: PAD_LEAD_BYTES + (height + PAD_EXTRA_ROWS) * (rowLen + ROW_PADDING), out: height * rowLen };
      const layout = unfilterLayout(raw.length, rowLen, height);
      expectWellFormed(regions, bytes, layout);
      const { offsets } = layout;
      const wasm = canaryInstance<KernelMemory & { unfilter(...args: number[]): void }>(PNG_UNFILTER_WASM_BASE64, layout.total);
      const buffer = wasm.memory.buffer;
      new Uint8Array(buffer, offsets.raw).set(raw);

      wasm.unfilter(rowLen, height, bpp, offsets.scr, offsets.raw, offsets.pad, offsets.out);

      expectWritesInside(buffer, regions, bytes, layout, { raw });
      expect(new Uint8Array(buffer, offsets.out, height * rowLen)).toEqual(unfilterPngScalar(raw, width, height, bpp as 1 | 2 | 3 | 4));
    },
  );

  it.each([
    [9, 7, 1, 4, 3],
    [13, 11, 3, 5, 11],
    [13, 11, 4, 13, 4],
    [40, 30, 2, 17, 23],
  ])(
    'the resize kernels write only tmp and out in the layout of resize-pil.wat (%i×%i, %i channels, to %i×%i)',
    (width, height, channels, outWidth, outHeight) => {
      const rnd = mulberry32(width * outHeight);
      const src = Uint8Array.from({ length: width * height * channels }, () => Math.floor(rnd() * 256));
      const layout = resizeLayout(width, height, channels, outWidth, outHeight);
      const regions = RESIZE_PIL_LAYOUT.layouts.resize;
      expectWellFormed(regions, layout.bytes, layout);
      let wasm: ResizeKernelExports | undefined;
      const out = resizeWasm(src, width, height, channels, outWidth, outHeight, (bytes) => {
        expect(bytes).toBe(layout.total);
        return (wasm = canaryInstance<ResizeKernelExports>(RESIZE_PIL_WASM_BASE64, bytes));
      });

      const bytesOf = (a: Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      const cx = layout.cx && { cx: bytesOf(layout.cx.kk), cxMins: bytesOf(layout.cx.mins) };
      expectWritesInside(wasm!.memory.buffer, regions, layout.bytes, layout, { src, ...cx });
      expect(out).toEqual(resizePilScalar(src, width, height, channels as 1 | 2 | 3 | 4, outWidth, outHeight));
    },
  );
});
