import { describe, expect, it } from '@jest/globals';
import { GRAM_MIN_DIM, defaultComomentPath, hostComomentPath } from './train-model';

describe('defaultComomentPath', () => {
  it('keeps the float64 kernel below GRAM_MIN_DIM channels and takes the Gram products from there', () => {
    expect(defaultComomentPath(100)).toBe('float64');
    expect(defaultComomentPath(GRAM_MIN_DIM - 1)).toBe('float64');
    expect(defaultComomentPath(GRAM_MIN_DIM)).toBe('gram');
    expect(defaultComomentPath(550, 'cpu')).toBe('gram');
    expect(hostComomentPath(550)).toBe('gram');
  });

  it('computes the statistics in the backbone graph when the backbone runs on CUDA, whatever d is', () => {
    expect(defaultComomentPath(100, 'cuda')).toBe('in-graph');
    expect(defaultComomentPath(550, 'cuda')).toBe('in-graph');
  });
});
