import { describe, expect, it } from 'vitest';
import { decodeHalves, floatToHalf, halfTable } from './half.js';

describe('float16 conversion', () => {
  it('decodes known bit patterns', () => {
    const table = halfTable();
    expect(table[0x3c00]).toBe(1);
    expect(table[0xc000]).toBe(-2);
    expect(table[0x7bff]).toBe(65504);
    expect(table[0x0001]).toBeCloseTo(5.960464477539063e-8, 20);
    expect(table[0x7c00]).toBe(Infinity);
    expect(Number.isNaN(table[0x7e00]!)).toBe(true);
    expect(Object.is(table[0x8000], -0)).toBe(true);
  });

  it('round-trips every finite half through encode and decode', () => {
    const table = halfTable();
    const mismatches: number[] = [];
    for (let bits = 0; bits < 65536; bits++) {
      const value = table[bits]!;
      if (!Number.isNaN(value) && floatToHalf(value) !== bits) mismatches.push(bits);
    }
    expect(mismatches).toEqual([]);
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // halfway rounds to even
    expect(floatToHalf(1e6)).toBe(0x7c00);
  });

  it('decodes a row at an offset into a target buffer', () => {
    const raw = Uint16Array.from([0x3c00, 0x4000, 0x4200, 0x4400]);
    expect(Array.from(decodeHalves(raw, 1, 2, new Float32Array(2)))).toEqual([2, 3]);
  });
});
