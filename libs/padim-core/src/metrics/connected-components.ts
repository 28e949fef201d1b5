/**
 * Connected components of the nonzero pixels of a mask, as `scipy.ndimage.label`: 8-connectivity
 * (a 3×3 structure of ones) is what MVTec AD's official AUPRO code uses; 4-connectivity is
 * scipy's default cross. Labels run 1..count in raster order of each component's first pixel;
 * background is 0.
 */
export function connectedComponents(mask: Uint8Array, shape: { h: number; w: number }, connectivity: 4 | 8 = 8): { labels: Int32Array; count: number } {
  const { h, w } = shape;
  for (const [name, v] of [
    ['h', h],
    ['w', w],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`connectedComponents: ${name} must be a positive integer, got ${v}`);
  }
  if (mask.length !== h * w) {
    throw new RangeError(`connectedComponents: mask has length ${mask.length}, expected h*w = ${h * w}`);
  }
  if (connectivity !== 4 && connectivity !== 8) {
    throw new RangeError(`connectedComponents: connectivity must be 4 or 8, got ${connectivity}`);
  }
  const eight = connectivity === 8;
  const labels = new Int32Array(h * w);
  const stack = new Int32Array(h * w);
  let count = 0;
  for (let start = 0; start < h * w; start++) {
    if (mask[start] === 0 || labels[start] !== 0) continue;
    const label = ++count;
    labels[start] = label;
    let top = 0;
    stack[top++] = start;
    while (top > 0) {
      const p = stack[--top];
      const y = (p / w) | 0;
      const x = p - y * w;
      const y0 = y > 0 ? y - 1 : y;
      const y1 = y < h - 1 ? y + 1 : y;
      const x0 = x > 0 ? x - 1 : x;
      const x1 = x < w - 1 ? x + 1 : x;
      for (let ny = y0; ny <= y1; ny++) {
        for (let nx = x0; nx <= x1; nx++) {
          if (!eight && ny !== y && nx !== x) continue;
          const q = ny * w + nx;
          if (mask[q] !== 0 && labels[q] === 0) {
            labels[q] = label;
            stack[top++] = q;
          }
        }
      }
    }
  }
  return { labels, count };
}
