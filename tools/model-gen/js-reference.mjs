// An independent, naive float64 implementation of the Llama forward pass (Hugging Face
// LlamaForCausalLM semantics) that reads the weights back out of a generated model.onnx. The
// tests compare it with onnxruntime's logits to show the ONNX graph computes real Llama math.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeModel, DataType } from '@muai/models';

/** Reads the float32 initializers of an inline model into { name: Float64Array }. */
export function readWeights(dir, file = 'model.onnx') {
  const model = decodeModel(readFileSync(join(dir, 'onnx', file)));
  const weights = {};
  for (const t of model.graph.initializer) {
    if (t.dataType !== DataType.FLOAT || !t.rawData || !t.dims || t.dims.length === 0) continue;
    const raw = t.rawData;
    const f = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    weights[t.name] = Float64Array.from(f);
  }
  return weights;
}

function matvec(x, W, inDim, outDim) {
  // W is [inDim, outDim] row-major: y = x W
  const y = new Float64Array(outDim);
  for (let i = 0; i < inDim; i++) {
    const xi = x[i];
    const row = i * outDim;
    for (let o = 0; o < outDim; o++) y[o] += xi * W[row + o];
  }
  return y;
}

function rms(x, w, eps) {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * inv * w[i]);
}

function rope(vec, heads, D, pos, theta) {
  const out = Float64Array.from(vec);
  const half = D / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const invFreq = Math.fround(1 / theta ** ((2 * i) / D));
      const angle = Math.fround(pos * invFreq);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      const a = vec[h * D + i];
      const b = vec[h * D + i + half];
      out[h * D + i] = a * c - b * s;
      out[h * D + i + half] = b * c + a * s;
    }
  }
  return out;
}

/** Logits [seq][vocab] of one unpadded sequence (positions 0..n-1), no cache. */
export function referenceLogits(cfg, W, ids) {
  const H = cfg.hidden_size;
  const D = cfg.head_dim;
  const NH = cfg.num_attention_heads;
  const KV = cfg.num_key_value_heads;
  const I = cfg.intermediate_size;
  const V = cfg.vocab_size;
  const nRep = NH / KV;
  let xs = ids.map((id) => W['model.embed_tokens.weight'].slice(id * H, (id + 1) * H));
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    const qs = [];
    const ks = [];
    const vs = [];
    xs.forEach((x, pos) => {
      const n = rms(x, W[`${p}.input_layernorm.weight`], cfg.rms_norm_eps);
      qs.push(rope(matvec(n, W[`${p}.self_attn.q_proj.weight`], H, NH * D), NH, D, pos, cfg.rope_theta));
      ks.push(rope(matvec(n, W[`${p}.self_attn.k_proj.weight`], H, KV * D), KV, D, pos, cfg.rope_theta));
      vs.push(matvec(n, W[`${p}.self_attn.v_proj.weight`], H, KV * D));
    });
    xs = xs.map((x, s) => {
      const ctx = new Float64Array(NH * D);
      for (let h = 0; h < NH; h++) {
        const kv = Math.floor(h / nRep);
        const scores = [];
        for (let j = 0; j <= s; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qs[s][h * D + d] * ks[j][kv * D + d];
          scores.push(dot / Math.sqrt(D));
        }
        const mx = Math.max(...scores);
        const ex = scores.map((v) => Math.exp(v - mx));
        const sum = ex.reduce((a, b) => a + b, 0);
        for (let j = 0; j <= s; j++) {
          for (let d = 0; d < D; d++) ctx[h * D + d] += (ex[j] / sum) * vs[j][kv * D + d];
        }
      }
      const o = matvec(ctx, W[`${p}.self_attn.o_proj.weight`], NH * D, H);
      const h1 = x.map((v, i) => v + o[i]);
      const n2 = rms(h1, W[`${p}.post_attention_layernorm.weight`], cfg.rms_norm_eps);
      const gate = matvec(n2, W[`${p}.mlp.gate_proj.weight`], H, I);
      const up = matvec(n2, W[`${p}.mlp.up_proj.weight`], H, I);
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
      const down = matvec(act, W[`${p}.mlp.down_proj.weight`], I, H);
      return h1.map((v, i) => v + down[i]);
    });
  }
  return xs.map((x) => matvec(rms(x, W['model.norm.weight'], cfg.rms_norm_eps), W['lm_head.weight'], H, V));
}
