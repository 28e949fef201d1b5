/**
 * How a kernel's memory is laid out, as its .wat declares it (@layout, @region and @const lines, which
 * build-wasm-kernels.mjs copies into the kernel's generated *-wasm.ts): the TypeScript side sizes each
 * region and takes every offset from layOutMemory, so the order, alignment and slack are written once.
 */
export interface MemoryRegion<Name extends string = string> {
  readonly name: Name;
  /** Byte alignment of the region's start. */
  readonly align: number;
  /** Bytes after the region that the kernel may read or write past its end. */
  readonly slack: number;
  /** in: only read; out: only written; inout: read and written; scratch: the kernel's own working space. */
  readonly access: 'in' | 'out' | 'inout' | 'scratch';
}

export interface KernelLayout {
  readonly layouts: Readonly<Record<string, readonly MemoryRegion[]>>;
  readonly constants: Readonly<Record<string, number>>;
}

export interface MemoryLayout<Name extends string> {
  /** Byte offset of each region; 0 for a region that is absent (given null bytes). */
  offsets: Record<Name, number>;
  /** Bytes the memory must hold: the end of the last present region's slack. */
  total: number;
}

/**
 * Offsets of `regions` laid out in order, each at its alignment after the previous one's bytes and
 * slack. `bytes` gives every region's size; null leaves a region out (it takes no memory).
 */
export function layOutMemory<Name extends string>(regions: readonly MemoryRegion<Name>[], bytes: Record<Name, number | null>): MemoryLayout<Name> {
  const offsets = {} as Record<Name, number>;
  let end = 0;
  for (const region of regions) {
    const size = bytes[region.name];
    if (size === null) {
      offsets[region.name] = 0;
      continue;
    }
    const at = alignUp(end, region.align);
    offsets[region.name] = at;
    end = at + size + region.slack;
  }
  return { offsets, total: end };
}

function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}
