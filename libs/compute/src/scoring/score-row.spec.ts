import { RESULT_COLUMNS, ScoreRow, summarizeScores, toResultsCsv, toResultsJsonl } from './score-row';

function row(file: string, over: Partial<ScoreRow> = {}): ScoreRow {
  return { file, score: null, normalizedScore: null, label: null, threshold: 5, maxX: null, maxY: null, heatmap: null, mask: null, error: null, ...over };
}

function scored(file: string, score: number, normalizedScore: number): ScoreRow {
  return row(file, {
    score,
    normalizedScore,
    label: score >= 5 ? 'anomalous' : 'normal',
    maxX: 1,
    maxY: 2,
    heatmap: `heatmaps/${file}`,
    mask: `masks/${file}`,
  });
}

/** A minimal RFC 4180 reader, to check that what is written reads back field for field. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\n') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
    } else field += c;
  }
  expect(field).toBe('');
  expect(record).toEqual([]);
  return records;
}

describe('toResultsCsv', () => {
  it('writes a header and one line per row, nulls as empty fields', () => {
    const csv = toResultsCsv([scored('a.png', 7.5, 0.75), row('b.png', { error: 'b.png: empty file (0 bytes)' })]);
    const lines = csv.split('\n');
    expect(lines[0]).toBe('file,score,normalizedScore,label,threshold,maxX,maxY,heatmap,mask,error');
    expect(lines[1]).toBe('a.png,7.5,0.75,anomalous,5,1,2,heatmaps/a.png,masks/a.png,');
    expect(lines[2]).toBe('b.png,,,,5,,,,,b.png: empty file (0 bytes)');
    expect(lines[3]).toBe('');
    expect(lines).toHaveLength(4);
  });

  it('quotes commas, quotes and line breaks in names and errors (RFC 4180)', () => {
    const names = ['a,b.png', 'say "hi".png', 'two\nlines.png', 'cr\rhere.png', 'plain.png'];
    const rows = names.map((n) => row(n, { error: `${n}: bad, "really"` }));
    const csv = toResultsCsv(rows);
    expect(csv).toContain('"a,b.png"');
    expect(csv).toContain('"say ""hi"".png"');
    expect(csv).toContain('"two\nlines.png"');
    const records = parseCsv(csv);
    expect(records).toHaveLength(names.length + 1);
    expect(records[0]).toEqual([...RESULT_COLUMNS]);
    expect(records.slice(1).map((r) => r[0])).toEqual(names);
    expect(records.slice(1).map((r) => r[9])).toEqual(rows.map((r) => r.error));
    expect(records.every((r) => r.length === RESULT_COLUMNS.length)).toBe(true);
  });

  it('is only a header for no rows', () => {
    expect(toResultsCsv([])).toBe(`${RESULT_COLUMNS.join(',')}\n`);
  });
});

describe('toResultsJsonl', () => {
  it('writes one object per line that reads back to the row', () => {
    const rows = [scored('a.png', 1.25, 0.1), row('odd\nname "x".png', { error: 'nope\nreally' }), scored('ünïcode/ß.png', 9, 1)];
    const text = toResultsJsonl(rows);
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(3);
    expect(lines.map((l) => JSON.parse(l))).toEqual(rows);
    expect(Object.keys(JSON.parse(lines[0]))).toEqual([...RESULT_COLUMNS]);
  });

  it('is empty for no rows', () => {
    expect(toResultsJsonl([])).toBe('');
  });
});

describe('summarizeScores', () => {
  const rows = [
    scored('n1.png', 1, 0),
    scored('n2.png', 3, 0.35),
    scored('a1.png', 6, 0.6),
    scored('a2.png', 20, 1),
    scored('a3.png', 5, 0.5),
    scored('n3.png', 4.9, 0.499),
    row('bad.png', { error: 'corrupt or truncated image' }),
    row('notes.txt', { error: 'not a supported image' }),
  ];
  const summary = summarizeScores(rows, { category: 'woven', threshold: 5, version: 'v3' });

  it('counts images, scored, failed and labels', () => {
    expect(summary).toMatchObject({ images: 8, scored: 6, failed: 2, anomalous: 3, normal: 3, threshold: 5, model: { category: 'woven', version: 'v3' } });
    expect(summary.scored + summary.failed).toBe(summary.images);
    expect(summary.anomalous + summary.normal).toBe(summary.scored);
  });

  it('bins normalised scores into 10 bins over [0, 1] that add up to the scored images', () => {
    expect(summary.histogram).toHaveLength(10);
    expect(summary.histogram[0]).toEqual({ from: 0, to: 0.1, count: 1 });
    expect(summary.histogram[9]).toEqual({ from: 0.9, to: 1, count: 1 });
    expect(summary.histogram.map((b) => b.count)).toEqual([1, 0, 0, 1, 1, 1, 1, 0, 0, 1]);
    expect(summary.histogram.reduce((n, b) => n + b.count, 0)).toBe(summary.scored);
  });

  it('lists every anomaly, highest score first, and every error', () => {
    expect(summary.anomalies).toEqual([
      { file: 'a2.png', score: 20, normalizedScore: 1 },
      { file: 'a1.png', score: 6, normalizedScore: 0.6 },
      { file: 'a3.png', score: 5, normalizedScore: 0.5 },
    ]);
    expect(summary.errors).toEqual([
      { file: 'bad.png', error: 'corrupt or truncated image' },
      { file: 'notes.txt', error: 'not a supported image' },
    ]);
  });

  it('leaves the version out when there is none, and handles no rows', () => {
    const empty = summarizeScores([], { category: 'screw', threshold: 1 });
    expect(empty.model).toEqual({ category: 'screw' });
    expect(empty).toMatchObject({ images: 0, scored: 0, failed: 0, anomalous: 0, normal: 0, anomalies: [], errors: [] });
    expect(empty.histogram.every((b) => b.count === 0)).toBe(true);
  });
});
