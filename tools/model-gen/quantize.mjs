// Quantized variants of the generated Llama graph, in the forms that Optimum / transformers.js
// exports ship and ONNX Runtime runs on the CPU (operators of the com.microsoft domain):
//
//   q8 (onnx/model_quantized.onnx): every linear weight W [K, N] as int8 with one float scale per
//      output column (symmetric, zero point 0), and each MatMul(x, W) becomes
//      DynamicQuantizeMatMul(x, W_q, W_scale): the activation is quantized to uint8 per call, the
//      product is int8 x uint8 -> int32 and scaled back to float (what onnxruntime.quantization's
//      quantize_dynamic leaves after ORT fuses DynamicQuantizeLinear + MatMulInteger).
//   q4 (onnx/model_q4.onnx): every linear weight as MatMulNBits (bits 4, block_size 32): per output
//      column, blocks of 32 input rows, each with a float scale and a 4-bit zero point
//      (asymmetric, as MatMul4BitsQuantizer writes by default); B is [N, K/32, 16] bytes, low
//      nibble first.
//
// The embedding table stays float32 (a Gather reads one row per token), as do norms.
import { DataType } from '@muai/models';

export const QUANTIZED_DTYPES = Object.freeze({
  q8: { suffix: '_quantized', label: 'int8 DynamicQuantizeMatMul, per-column scales' },
  q4: { suffix: '_q4', label: '4-bit MatMulNBits, block size 32' },
});
export const Q4_BLOCK_SIZE = 32;
const MS_DOMAIN = 'com.microsoft';

const intAttr = (name, value) => ({ name, type: 2, i: value });

/** int8 [K, N] (row major, as W) and a float scale per column: q = round(w / scale), scale = max|w| / 127. */
export function quantizeInt8PerColumn(values, K, N) {
  const scales = new Float32Array(N);
  for (let k = 0; k < K; k++) {
    const row = k * N;
    for (let n = 0; n < N; n++) {
      const a = Math.abs(values[row + n]);
      if (a > scales[n]) scales[n] = a;
    }
  }
  for (let n = 0; n < N; n++) scales[n] = scales[n] > 0 ? scales[n] / 127 : 1;
  const q = new Int8Array(K * N);
  for (let k = 0; k < K; k++) {
    const row = k * N;
    for (let n = 0; n < N; n++) q[row + n] = Math.max(-127, Math.min(127, Math.round(values[row + n] / scales[n])));
  }
  return { q, scales };
}

/**
 * MatMulNBits inputs for W [K, N] (row major): B uint8 [N, K/bs, bs/2], scales float [N * K/bs],
 * zero points uint8 [N * ceil((K/bs)/2)] (4 bits each, low nibble first). w ≈ (q - zp) * scale.
 */
export function quantizeNBits4(values, K, N, blockSize = Q4_BLOCK_SIZE) {
  if (K % blockSize !== 0) throw new Error(`K (${K}) must be a multiple of the block size ${blockSize}`);
  const blocks = K / blockSize;
  const blob = blockSize / 2;
  const zpBytes = Math.ceil(blocks / 2);
  const packed = new Uint8Array(N * blocks * blob);
  const scales = new Float32Array(N * blocks);
  const zeroPoints = new Uint8Array(N * zpBytes);
  const column = new Float32Array(blockSize);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      let min = 0;
      let max = 0; // the range always holds 0, so zero is exact
      for (let i = 0; i < blockSize; i++) {
        const v = values[(b * blockSize + i) * N + n];
        column[i] = v;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const scale = max > min ? (max - min) / 15 : 1;
      const zp = Math.max(0, Math.min(15, Math.round(-min / scale)));
      scales[n * blocks + b] = scale;
      zeroPoints[n * zpBytes + (b >> 1)] |= b & 1 ? zp << 4 : zp;
      const base = (n * blocks + b) * blob;
      for (let i = 0; i < blockSize; i++) {
        const q = Math.max(0, Math.min(15, Math.round(column[i] / scale) + zp));
        packed[base + (i >> 1)] |= i & 1 ? q << 4 : q;
      }
    }
  }
  return { packed, scales, zeroPoints, blocks };
}

const bytesOf = (typed) => Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength);

/**
 * Rewrites an fp32 graph and its weights into a quantized variant.
 * @param graph what buildLlamaGraph returned for fp32
 * @param weights iterable of { name, dims, bytes } (float32), spec kinds from weightSpecs
 * @param kinds Map name -> 'embedding' | 'linear' | 'ones'
 * @param dtype 'q8' | 'q4'
 * @returns { nodes, initializers } initializers as TensorProto objects (inline raw data)
 */
export function quantizeGraph(graph, weights, kinds, dtype) {
  if (!QUANTIZED_DTYPES[dtype]) throw new Error(`unknown quantized dtype "${dtype}": use q8 or q4`);
  const initializers = [];
  const linear = new Map(); // name -> [K, N]
  for (const weight of weights) {
    const values = new Float32Array(weight.bytes.buffer.slice(weight.bytes.byteOffset, weight.bytes.byteOffset + weight.bytes.byteLength));
    if (kinds.get(weight.name) !== 'linear') {
      initializers.push({ name: weight.name, dims: weight.dims, dataType: DataType.FLOAT, rawData: weight.bytes });
      continue;
    }
    const [K, N] = weight.dims;
    linear.set(weight.name, [K, N]);
    if (dtype === 'q8') {
      const { q, scales } = quantizeInt8PerColumn(values, K, N);
      initializers.push({ name: `${weight.name}_quantized`, dims: [K, N], dataType: DataType.INT8, rawData: bytesOf(q) });
      initializers.push({ name: `${weight.name}_scale`, dims: [N], dataType: DataType.FLOAT, rawData: bytesOf(scales) });
    } else {
      const { packed, scales, zeroPoints, blocks } = quantizeNBits4(values, K, N);
      initializers.push({ name: `${weight.name}_Q4`, dims: [N, blocks, Q4_BLOCK_SIZE / 2], dataType: DataType.UINT8, rawData: bytesOf(packed) });
      initializers.push({ name: `${weight.name}_scales`, dims: [N * blocks], dataType: DataType.FLOAT, rawData: bytesOf(scales) });
      initializers.push({ name: `${weight.name}_zero_points`, dims: [zeroPoints.length], dataType: DataType.UINT8, rawData: bytesOf(zeroPoints) });
    }
  }
  const nodes = graph.nodes.map((node) => {
    const w = node.opType === 'MatMul' ? node.input[1] : undefined;
    if (w === undefined || !linear.has(w)) return node;
    const [K, N] = linear.get(w);
    if (dtype === 'q8') {
      return { ...node, opType: 'DynamicQuantizeMatMul', domain: MS_DOMAIN, input: [node.input[0], `${w}_quantized`, `${w}_scale`], attribute: [] };
    }
    return {
      ...node,
      opType: 'MatMulNBits',
      domain: MS_DOMAIN,
      input: [node.input[0], `${w}_Q4`, `${w}_scales`, `${w}_zero_points`],
      attribute: [intAttr('K', K), intAttr('N', N), intAttr('bits', 4), intAttr('block_size', Q4_BLOCK_SIZE)],
    };
  });
  if (linear.size === 0) throw new Error('no linear weight found to quantize');
  return { nodes, initializers };
}
