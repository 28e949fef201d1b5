import { connectedComponents } from './connected-components';

function parse(rows: string[]): { mask: Uint8Array; h: number; w: number } {
  const h = rows.length;
  const w = rows[0].length;
  const mask = new Uint8Array(h * w);
  rows.forEach((r, y) => [...r].forEach((ch, x) => (mask[y * w + x] = ch === '#' ? 255 : 0)));
  return { mask, h, w };
}

function render(labels: Int32Array, h: number, w: number): string[] {
  const rows: string[] = [];
  for (let y = 0; y < h; y++) {
    rows.push(Array.from(labels.subarray(y * w, (y + 1) * w), (l) => (l === 0 ? '.' : String(l))).join(''));
  }
  return rows;
}

describe('connectedComponents', () => {
  const drawing = ['##..#.', '.#..#.', '..#...', '......', '#.##.#', '#..#.#'];

  it('8-connectivity joins diagonal neighbours (scipy.ndimage.label with a 3x3 structure of ones)', () => {
    const { mask, h, w } = parse(drawing);
    const { labels, count } = connectedComponents(mask, { h, w });
    expect(count).toBe(5);
    expect(render(labels, h, w)).toEqual(['11..2.', '.1..2.', '..1...', '......', '3.44.5', '3..4.5']);
  });

  it('4-connectivity splits them (scipy default cross)', () => {
    const { mask, h, w } = parse(drawing);
    const { labels, count } = connectedComponents(mask, { h, w }, 4);
    expect(count).toBe(6);
    expect(render(labels, h, w)).toEqual(['11..2.', '.1..2.', '..3...', '......', '4.55.6', '4..5.6']);
  });

  it('labels a U shape whose arms meet only at the bottom as one region, numbered by first pixel', () => {
    const { mask, h, w } = parse(['#.#', '#.#', '###']);
    const { labels, count } = connectedComponents(mask, { h, w }, 4);
    expect(count).toBe(1);
    expect(render(labels, h, w)).toEqual(['1.1', '1.1', '111']);
  });

  it('handles empty and full masks', () => {
    expect(connectedComponents(new Uint8Array(12), { h: 3, w: 4 }).count).toBe(0);
    const full = connectedComponents(new Uint8Array(12).fill(1), { h: 3, w: 4 });
    expect(full.count).toBe(1);
    expect(full.labels.every((l) => l === 1)).toBe(true);
  });

  it('rejects a mask of the wrong length', () => {
    expect(() => connectedComponents(new Uint8Array(5), { h: 2, w: 2 })).toThrow(/h\*w = 4/);
  });
});
