/**
 * Nearest-neighbour upsampling of a CHW tensor by an integer factor, matching PyTorch
 * `F.interpolate(x, scale_factor=factor, mode='nearest')`: out[y][x] = in[floor(y/f)][floor(x/f)].
 *
 * @returns CHW values of shape `{ c, h: h*factor, w: w*factor }`
 */
export function upsampleNearest(
  src: Float32Array,
  shape: { c: number; h: number; w: number },
  factor: number,
): Float32Array {
  const { c, h, w } = shape;
  for (const [name, v] of [['c', c], ['h', h], ['w', w], ['factor', factor]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`upsampleNearest: ${name} must be a positive integer, got ${v}`);
  }
  if (src.length !== c * h * w) {
    throw new RangeError(`upsampleNearest: src has length ${src.length}, expected c*h*w = ${c * h * w}`);
  }
  const outW = w * factor;
  const out = new Float32Array(c * h * factor * outW);
  const row = new Float32Array(outW);
  let o = 0;
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      const s = (ch * h + y) * w;
      for (let x = 0, ox = 0; x < w; x++) {
        const v = src[s + x];
        for (let k = 0; k < factor; k++) row[ox++] = v;
      }
      // each source row is repeated `factor` times
      for (let k = 0; k < factor; k++, o += outW) out.set(row, o);
    }
  }
  return out;
}
