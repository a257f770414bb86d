/**
 * IEEE 754 half precision to float32 conversion. onnxruntime-node hands float16 tensors over as raw
 * 16-bit values (Uint16Array); keys/values stay that way, only logits are decoded, through a
 * 65536-entry lookup table built once (256 KiB).
 */

let table: Float32Array | undefined;

function halfToFloatSlow(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : Number.NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** The lookup table from raw half bits to float32 values. */
export function halfTable(): Float32Array {
  if (table === undefined) {
    table = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) table[bits] = halfToFloatSlow(bits);
  }
  return table;
}

/** Decodes `count` halves of `source` starting at `offset` into `target` (from index 0). */
export function decodeHalves(source: Uint16Array, offset: number, count: number, target: Float32Array): Float32Array {
  const lut = halfTable();
  for (let i = 0; i < count; i++) target[i] = lut[source[offset + i]!]!;
  return target;
}

/** Encodes a float to raw half bits (round to nearest even); used by tests and for tensor inputs. */
export function floatToHalf(value: number): number {
  const floatView = new Float32Array(1);
  const intView = new Uint32Array(floatView.buffer);
  floatView[0] = value;
  const x = intView[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    let half = mantissa >> shift;
    const remainder = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (halfExponent << 10) | (mantissa >> 13);
  const remainder = mantissa & 0x1fff;
  if (remainder > 0x1000 || (remainder === 0x1000 && half & 1)) half++;
  return sign | half;
}
