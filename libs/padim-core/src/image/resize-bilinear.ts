/**
 * Bilinear resize of a CHW tensor, matching PyTorch
 * `F.interpolate(x, size=(outH, outW), mode='bilinear', align_corners=False)`:
 * half-pixel centres, source coordinates clamped at the borders, no antialiasing
 * (so a large downscale aliases, exactly as torch does).
 *
 * @param src   CHW values, length c*h*w
 * @param shape `{ c, h, w }` of `src`
 * @returns     CHW values of shape `{ c, h: outH, w: outW }`
 */
export function resizeBilinear(src: Float32Array, shape: { c: number; h: number; w: number }, outH: number, outW: number): Float32Array {
  const { c, h, w } = shape;
  checkDims('resizeBilinear', src.length, c, h, w, outH, outW);
  const xs = axisTaps(w, outW);
  const ys = axisTaps(h, outH);
  const out = new Float32Array(c * outH * outW);
  for (let ch = 0; ch < c; ch++) {
    const base = ch * h * w;
    let o = ch * outH * outW;
    for (let oy = 0; oy < outH; oy++) {
      const r0 = base + ys.i0[oy] * w;
      const r1 = base + ys.i1[oy] * w;
      const wy1 = ys.l1[oy];
      const wy0 = 1 - wy1;
      for (let ox = 0; ox < outW; ox++) {
        const x0 = xs.i0[ox];
        const x1 = xs.i1[ox];
        const wx1 = xs.l1[ox];
        const wx0 = 1 - wx1;
        out[o++] = wy0 * (wx0 * src[r0 + x0] + wx1 * src[r0 + x1]) + wy1 * (wx0 * src[r1 + x0] + wx1 * src[r1 + x1]);
      }
    }
  }
  return out;
}

/** Per output index: the two source taps and the weight of the second (torch's `lambda1`). */
export function axisTaps(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; l1: Float64Array } {
  const scale = inSize / outSize;
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const l1 = new Float64Array(outSize);
  for (let o = 0; o < outSize; o++) {
    // torch's area_pixel_compute_source_index: negative coordinates clamp to 0
    const s = Math.max(0, (o + 0.5) * scale - 0.5);
    const f = Math.min(Math.floor(s), inSize - 1);
    i0[o] = f;
    i1[o] = f < inSize - 1 ? f + 1 : f;
    l1[o] = f < inSize - 1 ? s - f : 0;
  }
  return { i0, i1, l1 };
}

function checkDims(fn: string, length: number, c: number, h: number, w: number, outH: number, outW: number): void {
  for (const [name, v] of [
    ['c', c],
    ['h', h],
    ['w', w],
    ['outH', outH],
    ['outW', outW],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${fn}: ${name} must be a positive integer, got ${v}`);
  }
  if (length !== c * h * w) throw new RangeError(`${fn}: src has length ${length}, expected c*h*w = ${c * h * w}`);
}
