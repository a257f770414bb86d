// A small GGUF v3 writer and reader (the file format of ggml / llama.cpp), and ggml's Q8_0 and
// Q4_0 block quantizers. Layout (ggml docs/gguf.md), all little-endian:
//   header      "GGUF", u32 version (3), u64 tensor count, u64 metadata key/value count
//   metadata    per entry: string key, u32 value type, value (arrays: u32 element type, u64 count,
//               elements); a string is u64 byte length + UTF-8 bytes, no NUL
//   tensor info per tensor: string name, u32 n_dims, u64 dims[n_dims] (ne0 first: the innermost,
//               contiguous dimension, i.e. numpy's shape reversed), u32 ggml type, u64 offset from
//               the start of the data section (a multiple of the alignment)
//   padding     zeros up to a multiple of `general.alignment` (32 unless the metadata says otherwise)
//   data        the tensors, each starting on an aligned offset
import { closeSync, openSync, writeSync } from 'node:fs';
import { fromFloat16Bits, toFloat16Bits } from './prng.mjs';

export const GGUF_MAGIC = 'GGUF';
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types (gguf_type). */
export const GgufType = Object.freeze({
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
});

/** Tensor element types (ggml_type) this writer produces. */
export const GgmlType = Object.freeze({ F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 });

/** ggml block sizes: elements per block and bytes per block. */
const BLOCK = Object.freeze({
  [GgmlType.F32]: { elements: 1, bytes: 4 },
  [GgmlType.F16]: { elements: 1, bytes: 2 },
  [GgmlType.Q4_0]: { elements: 32, bytes: 2 + 16 },
  [GgmlType.Q8_0]: { elements: 32, bytes: 2 + 32 },
});

/** Bytes a tensor of `type` with `count` elements takes (count must be a whole number of blocks). */
export function ggmlTensorBytes(type, count) {
  const block = BLOCK[type];
  if (block === undefined) throw new Error(`unsupported ggml type ${type}`);
  if (count % block.elements !== 0) throw new Error(`${count} elements is not a whole number of ${block.elements}-element blocks`);
  return (count / block.elements) * block.bytes;
}

// ------------------------------------------------------------------------- quantizers ----
// Both follow ggml-quants.c's reference rows (quantize_row_q8_0_ref, quantize_row_q4_0_ref), so a
// file holds the same bytes llama-quantize would write from the same float32 values.

/** Q8_0: blocks of 32 values, an fp16 scale d = max|x| / 127, then 32 int8 q = round(x / d). */
export function quantizeQ8_0(values) {
  const blocks = checkBlocks(values.length);
  const out = new Uint8Array(blocks * 34);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const x = b * 32;
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(values[x + j]));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    view.setUint16(b * 34, toFloat16Bits(d), true);
    for (let j = 0; j < 32; j++) view.setInt8(b * 34 + 2 + j, roundAway(Math.fround(values[x + j] * id)));
  }
  return out;
}

/** Q4_0: blocks of 32 values, an fp16 scale d = max / -8 (max: the value of largest magnitude,
 *  sign kept), then 16 bytes: element j in the low nibble of byte j, element j+16 in its high
 *  nibble, each stored as q + 8 with q = x / d in -8..7. */
export function quantizeQ4_0(values) {
  const blocks = checkBlocks(values.length);
  const out = new Uint8Array(blocks * 18);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const x = b * 32;
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const v = values[x + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = Math.fround(max / -8);
    const id = d ? Math.fround(1 / d) : 0;
    view.setUint16(b * 18, toFloat16Bits(d), true);
    for (let j = 0; j < 16; j++) {
      // ggml: (int8_t)(x * id + 8.5f), truncation toward zero, then MIN(15, .)
      const q0 = Math.min(15, Math.trunc(Math.fround(Math.fround(values[x + j] * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(Math.fround(Math.fround(values[x + j + 16] * id) + 8.5)));
      out[b * 18 + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

/** Q8_0 bytes back to floats (ggml's dequantize_row_q8_0). */
export function dequantizeQ8_0(bytes, count) {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < count / 32; b++) {
    const d = fromFloat16Bits(view.getUint16(b * 34, true));
    for (let j = 0; j < 32; j++) out[b * 32 + j] = view.getInt8(b * 34 + 2 + j) * d;
  }
  return out;
}

/** Q4_0 bytes back to floats (ggml's dequantize_row_q4_0). */
export function dequantizeQ4_0(bytes, count) {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < count / 32; b++) {
    const d = fromFloat16Bits(view.getUint16(b * 18, true));
    for (let j = 0; j < 16; j++) {
      const byte = view.getUint8(b * 18 + 2 + j);
      out[b * 32 + j] = ((byte & 0x0f) - 8) * d;
      out[b * 32 + j + 16] = ((byte >> 4) - 8) * d;
    }
  }
  return out;
}

/** float32 values as little-endian F16 bytes (round to nearest even, as ggml's GGML_FP32_TO_FP16). */
export function toF16Bytes(values) {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setUint16(i * 2, toFloat16Bits(values[i]), true);
  return out;
}

/** float32 values as little-endian F32 bytes. */
export function toF32Bytes(values) {
  const f = values instanceof Float32Array ? values : Float32Array.from(values);
  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
}

/** Encodes float32 values as `type`. */
export function encodeTensor(type, values) {
  if (type === GgmlType.F32) return toF32Bytes(values);
  if (type === GgmlType.F16) return toF16Bytes(values);
  if (type === GgmlType.Q8_0) return quantizeQ8_0(values);
  if (type === GgmlType.Q4_0) return quantizeQ4_0(values);
  throw new Error(`unsupported ggml type ${type}`);
}

function checkBlocks(length) {
  if (length % 32 !== 0) throw new Error(`${length} values is not a whole number of 32-value blocks`);
  return length / 32;
}

// C's roundf: halves away from zero (Math.round sends -2.5 to -2).
const roundAway = (v) => Math.sign(v) * Math.round(Math.abs(v));

// ---------------------------------------------------------------------------- writer ----

/** Growable little-endian byte buffer for the header part of the file. */
class ByteWriter {
  constructor() {
    this.buffer = new Uint8Array(1 << 16);
    this.view = new DataView(this.buffer.buffer);
    this.length = 0;
  }
  reserve(n) {
    if (this.length + n <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }
  u8(v) { this.reserve(1); this.view.setUint8(this.length, v); this.length += 1; }
  i8(v) { this.reserve(1); this.view.setInt8(this.length, v); this.length += 1; }
  u16(v) { this.reserve(2); this.view.setUint16(this.length, v, true); this.length += 2; }
  i16(v) { this.reserve(2); this.view.setInt16(this.length, v, true); this.length += 2; }
  u32(v) { this.reserve(4); this.view.setUint32(this.length, v, true); this.length += 4; }
  i32(v) { this.reserve(4); this.view.setInt32(this.length, v, true); this.length += 4; }
  f32(v) { this.reserve(4); this.view.setFloat32(this.length, v, true); this.length += 4; }
  f64(v) { this.reserve(8); this.view.setFloat64(this.length, v, true); this.length += 8; }
  u64(v) { this.reserve(8); this.view.setBigUint64(this.length, BigInt(v), true); this.length += 8; }
  i64(v) { this.reserve(8); this.view.setBigInt64(this.length, BigInt(v), true); this.length += 8; }
  bytes(b) { this.reserve(b.length); this.buffer.set(b, this.length); this.length += b.length; }
  string(s) {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.bytes(b);
  }
  result() { return this.buffer.subarray(0, this.length); }
}

const SCALAR_WRITERS = {
  [GgufType.UINT8]: 'u8', [GgufType.INT8]: 'i8', [GgufType.UINT16]: 'u16', [GgufType.INT16]: 'i16',
  [GgufType.UINT32]: 'u32', [GgufType.INT32]: 'i32', [GgufType.FLOAT32]: 'f32', [GgufType.UINT64]: 'u64',
  [GgufType.INT64]: 'i64', [GgufType.FLOAT64]: 'f64',
};

function writeValue(w, type, value) {
  if (type === GgufType.STRING) w.string(value);
  else if (type === GgufType.BOOL) w.u8(value ? 1 : 0);
  else if (SCALAR_WRITERS[type]) w[SCALAR_WRITERS[type]](value);
  else throw new Error(`unsupported metadata type ${type}`);
}

/**
 * Writes a GGUF v3 file.
 * @param {string} path
 * @param {{ metadata: Array<{ key: string, type: number, value: unknown, itemType?: number }>,
 *           tensors: Array<{ name: string, dims: number[], type: number, data: Uint8Array | (() => Uint8Array) }>,
 *           alignment?: number }} file
 *   `dims` in ggml order (ne0, the contiguous dimension, first). An ARRAY entry gives `itemType`
 *   and an array `value`. `data` may be a function, called once when that tensor is written, so
 *   that a big model never holds every encoded tensor at once.
 * @returns {{ dataOffset: number, offsets: number[], bytes: number }}
 */
export function writeGguf(path, { metadata, tensors, alignment = GGUF_DEFAULT_ALIGNMENT }) {
  const declared = metadata.find((entry) => entry.key === 'general.alignment');
  if (declared && declared.value !== alignment) throw new Error(`general.alignment ${declared.value} differs from alignment ${alignment}`);
  const w = new ByteWriter();
  w.bytes(Buffer.from(GGUF_MAGIC, 'ascii'));
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(metadata.length);
  for (const entry of metadata) {
    w.string(entry.key);
    w.u32(entry.type);
    if (entry.type === GgufType.ARRAY) {
      w.u32(entry.itemType);
      w.u64(entry.value.length);
      for (const item of entry.value) writeValue(w, entry.itemType, item);
    } else {
      writeValue(w, entry.type, entry.value);
    }
  }
  const offsets = [];
  let offset = 0;
  for (const tensor of tensors) {
    const count = tensor.dims.reduce((a, b) => a * b, 1);
    w.string(tensor.name);
    w.u32(tensor.dims.length);
    for (const dim of tensor.dims) w.u64(dim);
    w.u32(tensor.type);
    w.u64(offset);
    offsets.push(offset);
    offset = alignUp(offset + ggmlTensorBytes(tensor.type, count), alignment);
  }
  const dataOffset = alignUp(w.length, alignment);
  w.bytes(new Uint8Array(dataOffset - w.length));
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, w.result());
    let position = 0;
    tensors.forEach((tensor, i) => {
      const data = typeof tensor.data === 'function' ? tensor.data() : tensor.data;
      const count = tensor.dims.reduce((a, b) => a * b, 1);
      if (data.length !== ggmlTensorBytes(tensor.type, count)) throw new Error(`tensor ${tensor.name}: ${data.length} bytes, expected ${ggmlTensorBytes(tensor.type, count)}`);
      if (position < offsets[i]) writeSync(fd, new Uint8Array(offsets[i] - position));
      writeSync(fd, data);
      position = offsets[i] + data.length;
    });
    // The file ends on an aligned offset too, as gguf-py writes it.
    if (position < offset) writeSync(fd, new Uint8Array(offset - position));
  } finally {
    closeSync(fd);
  }
  return { dataOffset, offsets, bytes: dataOffset + offset };
}

export const alignUp = (n, alignment) => Math.ceil(n / alignment) * alignment;

// ---------------------------------------------------------------------------- reader ----

/**
 * Parses a GGUF file's header, metadata and tensor infos (the tests read written files back with
 * it). Returns `{ version, metadata: Map<key, { type, value, itemType? }>, tensors: [{ name, dims,
 * type, offset }], dataOffset, alignment }`; tensor bytes are at `dataOffset + offset`.
 */
export function readGguf(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const u32 = () => { const v = view.getUint32(p, true); p += 4; return v; };
  const u64 = () => { const v = view.getBigUint64(p, true); p += 8; return Number(v); };
  const string = () => { const n = u64(); const s = Buffer.from(bytes.buffer, bytes.byteOffset + p, n).toString('utf8'); p += n; return s; };
  const scalar = (type) => {
    switch (type) {
      case GgufType.UINT8: p += 1; return view.getUint8(p - 1);
      case GgufType.INT8: p += 1; return view.getInt8(p - 1);
      case GgufType.UINT16: p += 2; return view.getUint16(p - 2, true);
      case GgufType.INT16: p += 2; return view.getInt16(p - 2, true);
      case GgufType.UINT32: return u32();
      case GgufType.INT32: p += 4; return view.getInt32(p - 4, true);
      case GgufType.FLOAT32: p += 4; return view.getFloat32(p - 4, true);
      case GgufType.BOOL: p += 1; return view.getUint8(p - 1) !== 0;
      case GgufType.STRING: return string();
      case GgufType.UINT64: return u64();
      case GgufType.INT64: p += 8; return Number(view.getBigInt64(p - 8, true));
      case GgufType.FLOAT64: p += 8; return view.getFloat64(p - 8, true);
      default: throw new Error(`unknown metadata type ${type} at byte ${p}`);
    }
  };
  const magic = Buffer.from(bytes.buffer, bytes.byteOffset, 4).toString('ascii');
  if (magic !== GGUF_MAGIC) throw new Error(`not a GGUF file (magic ${JSON.stringify(magic)})`);
  p = 4;
  const version = u32();
  const tensorCount = u64();
  const kvCount = u64();
  const metadata = new Map();
  for (let i = 0; i < kvCount; i++) {
    const key = string();
    const type = u32();
    if (type === GgufType.ARRAY) {
      const itemType = u32();
      const n = u64();
      const value = [];
      for (let j = 0; j < n; j++) value.push(scalar(itemType));
      metadata.set(key, { type, itemType, value });
    } else {
      metadata.set(key, { type, value: scalar(type) });
    }
  }
  const tensors = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = string();
    const nDims = u32();
    const dims = [];
    for (let d = 0; d < nDims; d++) dims.push(u64());
    const type = u32();
    const offset = u64();
    tensors.push({ name, dims, type, offset });
  }
  const alignment = metadata.get('general.alignment')?.value ?? GGUF_DEFAULT_ALIGNMENT;
  return { version, metadata, tensors, dataOffset: alignUp(p, alignment), alignment, headerEnd: p };
}
