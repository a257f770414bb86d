import { decodeHalves, floatToHalf, halfTable } from './internal/half.js';

/** The 65536-entry table from raw float16 bits to float32 values (shared, do not modify). */
export function halfToFloatTable(): Float32Array {
  return halfTable();
}

/** Decodes raw float16 values (as onnxruntime-node returns them) to float32. */
export function decodeFloat16(raw: Uint16Array): Float32Array {
  return decodeHalves(raw, 0, raw.length, new Float32Array(raw.length));
}

/** Encodes float32 values to raw float16 values, for float16 tensor inputs. */
export function encodeFloat16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatToHalf(values[i]!);
  return out;
}
