import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GGUF_VERSION, GgmlType, GgufType, dequantizeQ4_0, dequantizeQ8_0, ggmlTensorBytes, quantizeQ4_0, quantizeQ8_0, readGguf, writeGguf,
} from './gguf.mjs';
import { exportGguf, permuteHeads, readOnnxWeights } from './gguf-export.mjs';
import { generateModel } from './generate.mjs';
import { fillNormal, fromFloat16Bits } from './prng.mjs';

const work = mkdtempSync(join(tmpdir(), 'gguf-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const gaussian = (n, seed, std = 0.02) => {
  const out = new Float32Array(n);
  fillNormal(out, seed, 'gguf-test', std);
  return out;
};

describe('writeGguf / readGguf', () => {
  it('writes the v3 header, typed metadata, tensor infos and 32-byte aligned data', () => {
    const path = join(work, 'plain.gguf');
    const a = new Float32Array([1, 2, 3]); // 12 bytes: the next tensor needs padding
    const b = new Float32Array(64).map((_, i) => i - 32);
    const q = quantizeQ8_0(b);
    const metadata = [
      { key: 'general.architecture', type: GgufType.STRING, value: 'llama' },
      { key: 'u8', type: GgufType.UINT8, value: 200 },
      { key: 'i16', type: GgufType.INT16, value: -1234 },
      { key: 'u32', type: GgufType.UINT32, value: 4_000_000_000 },
      { key: 'i32', type: GgufType.INT32, value: -7 },
      { key: 'f32', type: GgufType.FLOAT32, value: 1e-5 },
      { key: 'bool', type: GgufType.BOOL, value: true },
      { key: 'u64', type: GgufType.UINT64, value: 2 ** 40 },
      { key: 'f64', type: GgufType.FLOAT64, value: Math.PI },
      { key: 'tokens', type: GgufType.ARRAY, itemType: GgufType.STRING, value: ['<unk>', '▁héllo', ''] },
      { key: 'scores', type: GgufType.ARRAY, itemType: GgufType.FLOAT32, value: [0, -1.5, -2] },
      { key: 'types', type: GgufType.ARRAY, itemType: GgufType.INT32, value: [2, 1, 6] },
    ];
    const tensors = [
      { name: 'a', dims: [3], type: GgmlType.F32, data: new Uint8Array(a.buffer) },
      { name: 'b.q8', dims: [32, 2], type: GgmlType.Q8_0, data: () => q },
    ];
    const result = writeGguf(path, { metadata, tensors });
    const bytes = readFileSync(path);
    expect(bytes.subarray(0, 4).toString('ascii')).toBe('GGUF');
    const parsed = readGguf(bytes);
    expect(parsed.version).toBe(GGUF_VERSION);
    expect(parsed.metadata.size).toBe(metadata.length);
    for (const entry of metadata) {
      const got = parsed.metadata.get(entry.key);
      expect(got.type).toBe(entry.type);
      if (entry.type === GgufType.FLOAT32) expect(got.value).toBeCloseTo(entry.value, 10);
      else expect(got.value).toEqual(entry.value);
      if (entry.itemType !== undefined) expect(got.itemType).toBe(entry.itemType);
    }
    expect(parsed.metadata.get('scores').value).toEqual([0, -1.5, -2]);
    expect(parsed.tensors).toEqual([
      { name: 'a', dims: [3], type: GgmlType.F32, offset: 0 },
      { name: 'b.q8', dims: [32, 2], type: GgmlType.Q8_0, offset: 32 },
    ]);
    expect(parsed.dataOffset % 32).toBe(0);
    expect(parsed.dataOffset).toBe(result.dataOffset);
    expect(parsed.dataOffset - parsed.headerEnd).toBeLessThan(32);
    // The header's padding is zeros, the data sits at the offsets, and the file ends aligned.
    expect([...bytes.subarray(parsed.headerEnd, parsed.dataOffset)].every((x) => x === 0)).toBe(true);
    expect(new Float32Array(bytes.buffer.slice(bytes.byteOffset + parsed.dataOffset, bytes.byteOffset + parsed.dataOffset + 12))).toEqual(a);
    expect(bytes.subarray(parsed.dataOffset + 32, parsed.dataOffset + 32 + q.length)).toEqual(Buffer.from(q));
    expect(bytes.length).toBe(result.bytes);
    expect(bytes.length % 32).toBe(0);
  });

  it('refuses data of the wrong size and a general.alignment that differs from the layout', () => {
    expect(() => writeGguf(join(work, 'bad.gguf'), { metadata: [], tensors: [{ name: 'x', dims: [4], type: GgmlType.F32, data: new Uint8Array(8) }] })).toThrow(/8 bytes, expected 16/);
    expect(() => writeGguf(join(work, 'bad.gguf'), { metadata: [{ key: 'general.alignment', type: GgufType.UINT32, value: 64 }], tensors: [] })).toThrow(/alignment/);
    expect(() => readGguf(Buffer.from('GGML0000'))).toThrow(/not a GGUF/);
    expect(() => ggmlTensorBytes(GgmlType.Q4_0, 48)).toThrow(/blocks/);
  });
});

describe('Q8_0 and Q4_0 (ggml block quantization)', () => {
  it('Q8_0: a block is an fp16 scale max|x|/127 and 32 int8 values rounded half away from zero', () => {
    const x = Float32Array.from({ length: 32 }, (_, j) => (j - 16) * 0.5); // -8 .. 7.5: amax 8
    const bytes = quantizeQ8_0(x);
    expect(bytes.length).toBe(34);
    const view = new DataView(bytes.buffer);
    expect(fromFloat16Bits(view.getUint16(0, true))).toBeCloseTo(8 / 127, 4);
    expect(view.getInt8(2)).toBe(-127); // -8
    expect(view.getInt8(2 + 16)).toBe(0);
    expect(view.getInt8(2 + 17)).toBe(8); // 0.5 * 127 / 8 = 7.9375
    // -0.5 * 127/8 = -7.94 -> -8 (not -7): rounding of a negative value is symmetric
    expect(view.getInt8(2 + 15)).toBe(-8);
    const zeros = quantizeQ8_0(new Float32Array(32));
    expect([...zeros].every((b) => b === 0)).toBe(true);
  });

  it('Q4_0: scale max/-8 with the sign of the largest value, element j in the low nibble, j+16 in the high one', () => {
    const x = new Float32Array(32);
    x[0] = -8; // the largest magnitude: d = -8 / -8 = 1, q = x / d + 8
    x[1] = 3;
    x[16] = 7;
    x[17] = 7.6; // 15.6 -> 15 (clamped to 15 anyway)
    const bytes = quantizeQ4_0(x);
    expect(bytes.length).toBe(18);
    expect(fromFloat16Bits(new DataView(bytes.buffer).getUint16(0, true))).toBe(1);
    expect(bytes[2]).toBe(0 | (15 << 4)); // x0 = -8 -> 0, x16 = 7 -> 15
    expect(bytes[3]).toBe(11 | (15 << 4)); // x1 = 3 -> 11, x17 = 7.6 -> 15
    expect(bytes[4]).toBe(8 | (8 << 4)); // zeros -> 8
    const back = dequantizeQ4_0(bytes, 32);
    expect([back[0], back[1], back[16], back[17]]).toEqual([-8, 3, 7, 7]);
  });

  it('round trips stay within half a step (Q8_0) and one step (Q4_0, whose top level is clamped)', () => {
    const n = 32 * 512;
    const x = gaussian(n, 7, 1);
    x[5] = 40; // an outlier only widens its own block's step
    const q8 = dequantizeQ8_0(quantizeQ8_0(x), n);
    const q4 = dequantizeQ4_0(quantizeQ4_0(x), n);
    let sq8 = 0;
    let sq4 = 0;
    let energy = 0;
    for (let b = 0; b < n / 32; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
      for (let j = 0; j < 32; j++) {
        const i = b * 32 + j;
        // + the fp16 rounding of the scale (relative 2^-11, times |q| <= 127 or 8 steps)
        expect(Math.abs(q8[i] - x[i])).toBeLessThanOrEqual((amax / 127) * 0.5 + amax * 2 ** -10);
        expect(Math.abs(q4[i] - x[i])).toBeLessThanOrEqual(amax / 8 + amax * 2 ** -10);
        sq8 += (q8[i] - x[i]) ** 2;
        sq4 += (q4[i] - x[i]) ** 2;
        energy += x[i] ** 2;
      }
    }
    // Signal-to-noise of Gaussian blocks: about 41 dB for 8 bits, about 19 dB for 4 bits.
    expect(10 * Math.log10(energy / sq8)).toBeGreaterThan(35);
    expect(10 * Math.log10(energy / sq4)).toBeGreaterThan(15);
    expect(10 * Math.log10(energy / sq4)).toBeLessThan(25);
  });
});

describe('permuteHeads (Hugging Face rotate-half -> llama.cpp adjacent-pair RoPE)', () => {
  it('gives the same attention score q.k after RoPE at any positions', () => {
    const D = 8;
    const heads = 2;
    const q = gaussian(D * heads, 1, 1);
    const k = gaussian(D * heads, 2, 1);
    const freq = (i) => 1 / 10000 ** ((2 * i) / D);
    const ropeHalf = (v, h, pos) => {
      const out = new Float64Array(D);
      for (let i = 0; i < D / 2; i++) {
        const [a, b] = [v[h * D + i], v[h * D + i + D / 2]];
        const [c, s] = [Math.cos(pos * freq(i)), Math.sin(pos * freq(i))];
        out[i] = a * c - b * s;
        out[i + D / 2] = b * c + a * s;
      }
      return out;
    };
    const ropePairs = (v, h, pos) => {
      const out = new Float64Array(D);
      for (let i = 0; i < D / 2; i++) {
        const [a, b] = [v[h * D + 2 * i], v[h * D + 2 * i + 1]];
        const [c, s] = [Math.cos(pos * freq(i)), Math.sin(pos * freq(i))];
        out[2 * i] = a * c - b * s;
        out[2 * i + 1] = b * c + a * s;
      }
      return out;
    };
    const dot = (a, b) => a.reduce((sum, v, i) => sum + v * b[i], 0);
    // One input column: each "row" of the weight is one output element.
    const qp = permuteHeads(q, heads, 1);
    const kp = permuteHeads(k, heads, 1);
    expect(qp).not.toEqual(q);
    for (const [pq, pk] of [[0, 0], [5, 2], [37, 36]]) {
      for (let h = 0; h < heads; h++) {
        expect(dot(ropePairs(qp, h, pq), ropePairs(kp, h, pk))).toBeCloseTo(dot(ropeHalf(q, h, pq), ropeHalf(k, h, pk)), 10);
      }
    }
  });
});

describe('exportGguf on a generated tiny model', () => {
  const dir = join(work, 'tiny');
  let weights;
  let config;
  beforeAll(() => {
    generateModel({ size: 'tiny', outDir: dir, log: () => {} });
    weights = readOnnxWeights(dir);
    config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  });

  it('f32: llama metadata, the tokenizer, every tensor transposed to [out, in] with Q/K rows permuted', () => {
    const out = join(work, 'tiny-f32.gguf');
    exportGguf(dir, { type: 'f32', out });
    const bytes = readFileSync(out);
    const gguf = readGguf(bytes);
    const meta = (key) => gguf.metadata.get(key)?.value;
    expect(meta('general.architecture')).toBe('llama');
    expect(meta('general.file_type')).toBe(0);
    expect(meta('llama.embedding_length')).toBe(config.hidden_size);
    expect(meta('llama.block_count')).toBe(config.num_hidden_layers);
    expect(meta('llama.feed_forward_length')).toBe(config.intermediate_size);
    expect(meta('llama.attention.head_count')).toBe(config.num_attention_heads);
    expect(meta('llama.attention.head_count_kv')).toBe(config.num_key_value_heads);
    expect(meta('llama.context_length')).toBe(config.max_position_embeddings);
    expect(meta('llama.rope.freq_base')).toBe(config.rope_theta);
    expect(meta('llama.attention.layer_norm_rms_epsilon')).toBeCloseTo(config.rms_norm_eps, 12);
    expect(meta('tokenizer.ggml.model')).toBe('llama');
    const tokens = meta('tokenizer.ggml.tokens');
    expect(tokens.length).toBe(config.vocab_size);
    expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(meta('tokenizer.ggml.token_type').slice(0, 4)).toEqual([2, 3, 3, 6]);
    expect(meta('tokenizer.ggml.scores').length).toBe(config.vocab_size);
    expect(meta('tokenizer.ggml.bos_token_id')).toBe(1);
    expect(meta('tokenizer.ggml.eos_token_id')).toBe(2);

    const names = gguf.tensors.map((t) => t.name);
    expect(names.slice(0, 10)).toEqual([
      'token_embd.weight', 'blk.0.attn_norm.weight', 'blk.0.attn_q.weight', 'blk.0.attn_k.weight', 'blk.0.attn_v.weight',
      'blk.0.attn_output.weight', 'blk.0.ffn_norm.weight', 'blk.0.ffn_gate.weight', 'blk.0.ffn_up.weight', 'blk.0.ffn_down.weight',
    ]);
    expect(names.at(-2)).toBe('output_norm.weight');
    expect(names.at(-1)).toBe('output.weight');
    for (const t of gguf.tensors) expect(t.offset % 32).toBe(0);
    const tensor = (name) => {
      const t = gguf.tensors.find((x) => x.name === name);
      const start = gguf.dataOffset + t.offset;
      return { ...t, values: new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + start + t.dims[0] * (t.dims[1] ?? 1) * 4)) };
    };
    const H = config.hidden_size;
    const D = config.head_dim;
    const embd = tensor('token_embd.weight');
    expect(embd.dims).toEqual([H, config.vocab_size]);
    expect(embd.values).toEqual(weights['model.embed_tokens.weight'].values);
    const ffnDown = tensor('blk.1.ffn_down.weight'); // ONNX [I, H] -> ggml [I (ne0), H]
    expect(ffnDown.dims).toEqual([config.intermediate_size, H]);
    const onnxDown = weights['model.layers.1.mlp.down_proj.weight'].values; // [in = I, out = H]
    expect(ffnDown.values[3 * config.intermediate_size + 5]).toBe(onnxDown[5 * H + 3]); // row out=3, column in=5
    // attn_k row (head h, pair j, s) is the ONNX column h*D + s*D/2 + j.
    const k = tensor('blk.0.attn_k.weight');
    expect(k.dims).toEqual([H, config.num_key_value_heads * D]);
    const onnxK = weights['model.layers.0.self_attn.k_proj.weight'].values; // [H, KV*D]
    const KVD = config.num_key_value_heads * D;
    const [h, j, s, column] = [1, 3, 1, 7];
    expect(k.values[(h * D + 2 * j + s) * H + column]).toBe(onnxK[column * KVD + h * D + s * (D / 2) + j]);
    expect(tensor('blk.0.attn_norm.weight').values).toEqual(weights['model.layers.0.input_layernorm.weight'].values);
    expect(bytes.length).toBe(statSync(out).size);
  });

  it('q8_0 and q4_0: matrices quantized, norms kept F32, sizes as ggml blocks', () => {
    for (const [type, ggml, fileType] of [['q8_0', GgmlType.Q8_0, 7], ['q4_0', GgmlType.Q4_0, 2], ['f16', GgmlType.F16, 1]]) {
      const out = join(work, `tiny-${type}.gguf`);
      const result = exportGguf(dir, { type, out });
      const gguf = readGguf(readFileSync(out));
      expect(gguf.metadata.get('general.file_type').value).toBe(fileType);
      for (const t of gguf.tensors) expect(t.type).toBe(t.dims.length === 1 ? GgmlType.F32 : ggml);
      const sizes = gguf.tensors.map((t) => ggmlTensorBytes(t.type, t.dims.reduce((a, b) => a * b, 1)));
      gguf.tensors.slice(1).forEach((t, i) => expect(t.offset).toBe(Math.ceil((gguf.tensors[i].offset + sizes[i]) / 32) * 32));
      expect(statSync(out).size).toBe(result.bytes);
    }
  });
});
