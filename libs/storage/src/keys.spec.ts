import { describe, expect, it } from '@jest/globals';
import {
  InvalidKeyError,
  modelCurrentKey,
  modelVersionPrefix,
  runPartialKey,
  runPrefix,
  validateCategory,
  validateKey,
  validatePrefix,
  validateVersion,
} from './keys';

describe('validateKey', () => {
  it.each(['a', 'a/b', 'models/screw/v1/mean.f32', 'a..b/c', '.hidden/x', 'ünïcødé/日本', 'x'.repeat(1024)])('accepts %j', (key) => {
    expect(validateKey(key)).toBe(key);
  });

  it.each([
    ['', 'must not be empty'],
    ['/abs', "must not start with '/'"],
    ['a/', "must not end with '/'"],
    ['a//b', 'empty segment'],
    ['../x', 'segment ".." is not allowed'],
    ['a/../b', 'segment ".." is not allowed'],
    ['a/./b', 'segment "." is not allowed'],
    ['.', 'segment "." is not allowed'],
    ['a\\b', 'backslashes are not allowed'],
    ['a\nb', 'control characters'],
    ['a\u0000b', 'control characters'],
    ['a\u007fb', 'control characters'],
    ['a\ud800b', 'unpaired surrogate'],
    ['x'.repeat(1025), 'longer than 1024 bytes'],
    ['é'.repeat(513), 'longer than 1024 bytes'],
  ])('rejects %j (%s)', (key, problem) => {
    expect(() => validateKey(key)).toThrow(InvalidKeyError);
    expect(() => validateKey(key)).toThrow(problem);
  });

  it('names what is being validated', () => {
    expect(() => validateKey('../x', 'artifact name')).toThrow(/^artifact name "\.\.\/x": /);
  });

  it('rejects non-strings', () => {
    expect(() => validateKey(42 as unknown as string)).toThrow(InvalidKeyError);
  });
});

describe('validatePrefix', () => {
  it.each(['', 'a', 'a/', 'a/b/', 'a/b'])('accepts %j', (prefix) => {
    expect(validatePrefix(prefix)).toBe(prefix);
  });

  it.each(['/', '/a/', 'a//', 'a//b/', '../', 'a/./', 'a\\b/', 'a\tb/'])('rejects %j', (prefix) => {
    expect(() => validatePrefix(prefix)).toThrow(InvalidKeyError);
  });
});

describe('validateCategory', () => {
  it.each(['screw', 'Screw_2', 'a', '9', 'metal-nut.v2', 'x'.repeat(64)])('accepts %j', (name) => {
    expect(validateCategory(name)).toBe(name);
  });

  it.each([
    ['', 'must not be empty'],
    ['../x', 'only letters'],
    ['..', 'must start with a letter or digit'],
    ['a/b', 'only letters'],
    ['.x', 'must start with a letter or digit'],
    ['-x', 'must start with a letter or digit'],
    ['a b', 'only letters'],
    ['x'.repeat(65), 'longer than 64'],
  ])('rejects %j (%s)', (name, problem) => {
    expect(() => validateCategory(name)).toThrow(InvalidKeyError);
    expect(() => validateCategory(name)).toThrow(`category ${JSON.stringify(name)}: ${problem}`);
  });

  it('versions follow the same rules and reserve current.json', () => {
    expect(validateVersion('2024-06-01T12.00.00Z')).toBe('2024-06-01T12.00.00Z');
    expect(() => validateVersion('../v1')).toThrow('version "../v1"');
    expect(() => validateVersion('current.json')).toThrow('reserved');
  });
});

describe('key builders', () => {
  it('build model and run keys', () => {
    expect(modelVersionPrefix('screw', 'v1')).toBe('models/screw/v1/');
    expect(modelCurrentKey('screw')).toBe('models/screw/current.json');
    expect(runPrefix('run-1234abcd')).toBe('runs/run-1234abcd/');
    expect(runPartialKey('run-1234abcd', 7)).toBe('runs/run-1234abcd/partials/shard-0007.pdmacc');
    expect(runPartialKey('run-1234abcd', 12345)).toBe('runs/run-1234abcd/partials/shard-12345.pdmacc');
  });

  it('validate their parts', () => {
    expect(() => modelVersionPrefix('../etc', 'v1')).toThrow('category "../etc"');
    expect(() => modelVersionPrefix('screw', 'a/b')).toThrow('version "a/b"');
    expect(() => modelCurrentKey('.x')).toThrow(InvalidKeyError);
    expect(() => runPrefix('a/b')).toThrow('run id "a/b"');
    expect(() => runPartialKey('run-1', -1)).toThrow('shard -1');
    expect(() => runPartialKey('run-1', 1.5)).toThrow(InvalidKeyError);
  });
});
