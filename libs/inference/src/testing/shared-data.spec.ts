import * as path from 'node:path';
import { sharedDir, sharedPath } from './shared-data';

describe('sharedPath', () => {
  const saved = process.env.PADIM_SHARED_DIR;
  afterEach(() => {
    if (saved === undefined) delete process.env.PADIM_SHARED_DIR;
    else process.env.PADIM_SHARED_DIR = saved;
  });

  it('defaults to ../shared beside the folder that holds nx.json', () => {
    delete process.env.PADIM_SHARED_DIR;
    expect(sharedDir()).toBe(path.resolve(__dirname, '../../../../../shared'));
    expect(sharedPath('backbones', 'x.npy')).toBe(path.resolve(__dirname, '../../../../../shared/backbones/x.npy'));
  });

  it('follows PADIM_SHARED_DIR', () => {
    process.env.PADIM_SHARED_DIR = '/data/padim-shared';
    expect(sharedPath('a', 'b')).toBe('/data/padim-shared/a/b');
  });
});
