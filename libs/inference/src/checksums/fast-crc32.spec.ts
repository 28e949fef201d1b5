import { expect, it } from '@jest/globals';
import { crc32Update as portable } from '@padim-fleet/padim-core';
import { fastCrc32Update } from './fast-crc32';

it('continues a CRC-32 exactly as the portable implementation does', () => {
  const bytes = new Uint8Array(100_003).map((_, i) => (i * 2654435761) >>> 24);
  let fast = 0;
  let slow = 0;
  for (let at = 0; at < bytes.length; at += 7919) {
    fast = fastCrc32Update(fast, bytes.subarray(at, at + 7919));
    slow = portable(slow, bytes.subarray(at, at + 7919));
  }
  expect(fast).toBe(slow);
  expect(fastCrc32Update(0, new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
});
