import { PythonRandom } from '../random';
import { crc32, crc32Update } from './crc32';

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** Bit-at-a-time CRC-32/IEEE, straight from the definition. */
function crc32Naive(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('crc32', () => {
  it('matches the CRC-32/ISO-HDLC check value', () => {
    // Catalogue of parametrised CRC algorithms (reveng.sourceforge.io/crc-catalogue): CRC-32/ISO-HDLC, check = 0xCBF43926.
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
  });

  it('matches known values for the empty string and a pangram', () => {
    // python3 -c "import zlib; print(hex(zlib.crc32(b'The quick brown fox jumps over the lazy dog')))" -> 0x414fa339
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(ascii('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
  });

  it('agrees with the bitwise definition on every length 0..70', () => {
    const rng = new PythonRandom(1);
    for (let n = 0; n <= 70; n++) {
      const bytes = Uint8Array.from({ length: n }, () => rng.getrandbits(8));
      expect(crc32(bytes)).toBe(crc32Naive(bytes));
    }
  });

  it('crc32Update over chunks equals one pass over the concatenation', () => {
    const rng = new PythonRandom(2);
    const bytes = Uint8Array.from({ length: 1000 }, () => rng.getrandbits(8));
    let crc = 0;
    for (const [a, b] of [[0, 3], [3, 3], [3, 17], [17, 512], [512, 1000]]) crc = crc32Update(crc, bytes.subarray(a, b));
    expect(crc).toBe(crc32(bytes));
    expect(crc32(bytes.subarray(5, 900))).toBe(crc32Naive(bytes.subarray(5, 900)));
  });
});
