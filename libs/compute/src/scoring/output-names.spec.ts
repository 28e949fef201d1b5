import { MAX_OUTPUT_NAME_LENGTH, distinctOutputPngNames, outputPngName } from './output-names';

const SAFE = /^[A-Za-z0-9_-][A-Za-z0-9._-]*\.png$/;

describe('outputPngName', () => {
  it('keeps a name that is already a safe flat PNG name', () => {
    expect(outputPngName('000.png')).toBe('000.png');
    expect(outputPngName('a__b.png')).toBe('a__b.png');
  });

  it('flattens path separators to __ and replaces the extension, with a hash', () => {
    expect(outputPngName('good/000.png')).toMatch(/^good__000-[0-9a-f]{12}\.png$/);
    expect(outputPngName('woven.zip/test/scratch/001.jpg')).toMatch(/^woven.zip__test__scratch__001-[0-9a-f]{12}\.png$/);
    expect(outputPngName('a\\b.png')).toMatch(/^a__b-[0-9a-f]{12}\.png$/);
    expect(outputPngName('photo.JPEG')).toMatch(/^photo-[0-9a-f]{12}\.png$/);
  });

  it('replaces unsafe characters and strips leading dots', () => {
    for (const file of ['a b/c:d?.png', 'ünï/ß.tif', '..hidden.png', '.png', '../../etc/passwd', 'x\ny.png', '"quoted",.png', '']) {
      const name = outputPngName(file);
      expect(name).toMatch(SAFE);
      expect(name.length).toBeLessThanOrEqual(MAX_OUTPUT_NAME_LENGTH);
    }
    expect(outputPngName('a b/c:d?.png')).toMatch(/^a_b__c_d_-[0-9a-f]{12}\.png$/);
    expect(outputPngName('..hidden.png')).toMatch(/^hidden-[0-9a-f]{12}\.png$/);
  });

  it('never gives two different inputs the same name', () => {
    const inputs = [
      'a/b.png',
      'a__b.png',
      'a\\b.png',
      'a/b.jpg',
      'a__b.jpg',
      'a_b.png',
      'a b.png',
      'a?b.png',
      'ab.png',
      '.ab.png',
      'ab',
      'ab.PNG',
      // Looks like a hashed name: it is hashed again rather than kept.
      outputPngName('a/b.png'),
      'x'.repeat(300) + '.png',
      'x'.repeat(300) + 'y.png',
      'x'.repeat(200) + '/' + 'x'.repeat(99) + '.png',
    ];
    const names = inputs.map(outputPngName);
    expect(new Set(names).size).toBe(inputs.length);
  });

  it('caps long names and keeps a hash of the whole input', () => {
    const long = `${'dir/'.repeat(40)}${'z'.repeat(300)}.png`;
    const name = outputPngName(long);
    expect(name.length).toBe(MAX_OUTPUT_NAME_LENGTH);
    expect(name).toMatch(/^dir__dir__.*-[0-9a-f]{12}\.png$/);
    expect(outputPngName(`${'q'.repeat(MAX_OUTPUT_NAME_LENGTH)}.png`)).toHaveLength(MAX_OUTPUT_NAME_LENGTH);
  });

  it('is deterministic', () => {
    expect(outputPngName('good/000.png')).toBe(outputPngName('good/000.png'));
  });
});

describe('distinctOutputPngNames', () => {
  it('names inputs as outputPngName does when their names differ', () => {
    const files = ['000.png', 'good/000.png', 'a b.png'];
    expect(distinctOutputPngNames(files)).toEqual(files.map(outputPngName));
  });

  it('gives inputs of the same name names of their own, the same on every call', () => {
    const files = ['000.png', '000.png', 'good/000.png', '000.png', 'good/000.png'];
    const names = distinctOutputPngNames(files);
    expect(new Set(names).size).toBe(files.length);
    expect(names[0]).toBe('000.png');
    expect(names[1]).toMatch(/^000-[0-9a-f]{12}\.png$/);
    expect(names[4]).toMatch(/^good__000-[0-9a-f]{12}\.png$/);
    for (const name of names) expect(name).toMatch(SAFE);
    expect(distinctOutputPngNames(files)).toEqual(names);
  });

  it('does not reuse a name that another input has as its own', () => {
    const [, second] = distinctOutputPngNames(['000.png', '000.png']);
    const names = distinctOutputPngNames(['000.png', '000.png', second]);
    expect(new Set(names).size).toBe(3);
  });
});
