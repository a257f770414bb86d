// Builds the ONNX graph of a Llama-architecture decoder with past key/values I/O, standard ONNX
// ops only (opset 17). The math follows Hugging Face's LlamaForCausalLM:
//   h = embed_tokens[input_ids]
//   per layer: h += o_proj(attn(rope(q_proj(n)), rope(k_proj(n)), v_proj(n)))   with n = rms(h)
//              h += down_proj(silu(gate_proj(n)) * up_proj(n))                   with n = rms(h)
//   logits = lm_head(rms(h))
// Linear weights are stored transposed ([in, out]) so that y = MatMul(x, W).
import { AttributeType, DataType } from './onnx-proto.mjs';

export const OPSET = 17;
export const IR_VERSION = 8;

const FLOAT32_LOWEST = -3.4028234663852886e38;

/** The weight tensors of a config, in graph order: { name, dims, kind: 'embedding' | 'linear' | 'ones' }. */
export function weightSpecs(cfg) {
  const H = cfg.hidden_size;
  const D = cfg.head_dim;
  const specs = [{ name: 'model.embed_tokens.weight', dims: [cfg.vocab_size, H], kind: 'embedding' }];
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    specs.push(
      { name: `${p}.input_layernorm.weight`, dims: [H], kind: 'ones' },
      { name: `${p}.self_attn.q_proj.weight`, dims: [H, cfg.num_attention_heads * D], kind: 'linear' },
      { name: `${p}.self_attn.k_proj.weight`, dims: [H, cfg.num_key_value_heads * D], kind: 'linear' },
      { name: `${p}.self_attn.v_proj.weight`, dims: [H, cfg.num_key_value_heads * D], kind: 'linear' },
      { name: `${p}.self_attn.o_proj.weight`, dims: [cfg.num_attention_heads * D, H], kind: 'linear' },
      { name: `${p}.post_attention_layernorm.weight`, dims: [H], kind: 'ones' },
      { name: `${p}.mlp.gate_proj.weight`, dims: [H, cfg.intermediate_size], kind: 'linear' },
      { name: `${p}.mlp.up_proj.weight`, dims: [H, cfg.intermediate_size], kind: 'linear' },
      { name: `${p}.mlp.down_proj.weight`, dims: [cfg.intermediate_size, H], kind: 'linear' },
    );
  }
  specs.push({ name: 'model.norm.weight', dims: [H], kind: 'ones' });
  if (!cfg.tie_word_embeddings) specs.push({ name: 'lm_head.weight', dims: [H, cfg.vocab_size], kind: 'linear' });
  return specs;
}

export function countParams(cfg) {
  return weightSpecs(cfg).reduce((n, s) => n + s.dims.reduce((a, b) => a * b, 1), 0);
}

function valueInfo(name, elemType, dims) {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

class GraphBuilder {
  constructor() {
    this.nodes = [];
    this.constants = [];
    this.counter = 0;
  }

  fresh(hint) {
    this.counter += 1;
    return `/${hint}_${this.counter}`;
  }

  /** Adds a node; returns its output name(s). */
  op(opType, inputs, attrs = {}, { outputs = 1, name } = {}) {
    const base = name ?? this.fresh(opType);
    const outNames = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, i) => `${base}/out${i}`) : outputs;
    const attribute = Object.entries(attrs).map(([key, v]) => attr(key, v));
    this.nodes.push({ name: base, opType, input: inputs, output: outNames, attribute });
    return outNames.length === 1 ? outNames[0] : outNames;
  }

  int64(values, dims = [values.length]) {
    const name = this.fresh('const_i64');
    const buf = Buffer.alloc(values.length * 8);
    values.forEach((v, i) => buf.writeBigInt64LE(BigInt(v), i * 8));
    this.constants.push({ name, dims, dataType: DataType.INT64, rawData: buf });
    return name;
  }

  scalar(value, dataType) {
    const name = this.fresh('const');
    let buf;
    if (dataType === DataType.FLOAT) {
      buf = Buffer.alloc(4);
      buf.writeFloatLE(value);
    } else if (dataType === DataType.FLOAT16) {
      buf = Buffer.alloc(2);
      buf.writeUInt16LE(value.bits);
    } else if (dataType === DataType.INT64) {
      buf = Buffer.alloc(8);
      buf.writeBigInt64LE(BigInt(value));
    } else throw new Error(`scalar of type ${dataType}`);
    this.constants.push({ name, dims: [], dataType, rawData: buf });
    return name;
  }

  floats(values) {
    const name = this.fresh('const_f32');
    const buf = Buffer.alloc(values.length * 4);
    values.forEach((v, i) => buf.writeFloatLE(v, i * 4));
    this.constants.push({ name, dims: [values.length], dataType: DataType.FLOAT, rawData: buf });
    return name;
  }
}

function attr(name, v) {
  if (typeof v === 'number' && Number.isInteger(v)) return { name, type: AttributeType.INT, i: v };
  if (typeof v === 'number') return { name, type: AttributeType.FLOAT, f: v };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: Buffer.from(v) };
  throw new Error(`attribute ${name}: unsupported value ${v}`);
}

/**
 * Builds the graph (nodes, small constants, I/O). Weights are referenced by name only: the caller
 * adds them as initializers (inline or external).
 * @param cfg config.json-like object (hidden_size, head_dim, ...)
 * @param dtype 'fp32' | 'fp16' (weights, hidden states, KV cache and logits)
 * @param f16 helper: (number) => float16 bits, for fp16 scalars
 */
export function buildLlamaGraph(cfg, dtype, f16) {
  const g = new GraphBuilder();
  const T = dtype === 'fp16' ? DataType.FLOAT16 : DataType.FLOAT;
  const isF16 = T === DataType.FLOAT16;
  const H = cfg.hidden_size;
  const D = cfg.head_dim;
  const NH = cfg.num_attention_heads;
  const KV = cfg.num_key_value_heads;
  const L = cfg.num_hidden_layers;
  if (NH % KV !== 0) throw new Error('num_attention_heads must be a multiple of num_key_value_heads');
  if (D % 2 !== 0) throw new Error('head_dim must be even');

  const inputs = [
    valueInfo('input_ids', DataType.INT64, ['batch_size', 'sequence_length']),
    valueInfo('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']),
    valueInfo('position_ids', DataType.INT64, ['batch_size', 'sequence_length']),
  ];
  const outputs = [valueInfo('logits', T, ['batch_size', 'sequence_length', cfg.vocab_size])];
  for (let l = 0; l < L; l++) {
    for (const kind of ['key', 'value']) {
      inputs.push(valueInfo(`past_key_values.${l}.${kind}`, T, ['batch_size', KV, 'past_sequence_length', D]));
    }
  }
  for (let l = 0; l < L; l++) {
    for (const kind of ['key', 'value']) {
      outputs.push(valueInfo(`present.${l}.${kind}`, T, ['batch_size', KV, 'total_sequence_length', D]));
    }
  }

  const scalarT = (v) => (isF16 ? g.scalar({ bits: f16(v) }, T) : g.scalar(v, T));

  // ---- attention mask: allowed[b, 0, i, j] = (j <= past + i) && attention_mask[b, j] == 1 ----
  const seqLen = g.op('Gather', [g.op('Shape', ['input_ids']), g.scalar(1, DataType.INT64)], { axis: 0 });
  const totalLen = g.op('Gather', [g.op('Shape', ['attention_mask']), g.scalar(1, DataType.INT64)], { axis: 0 });
  const pastLen = g.op('Sub', [totalLen, seqLen]);
  const one = g.scalar(1, DataType.INT64);
  const keyPos = g.op('Range', [g.scalar(0, DataType.INT64), totalLen, one]); // [T]
  const queryPos = g.op('Unsqueeze', [g.op('Range', [pastLen, totalLen, one]), g.int64([1])]); // [S, 1]
  const causal = g.op('LessOrEqual', [keyPos, queryPos]); // [S, T]
  const padOk = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], { to: DataType.BOOL }), g.int64([1, 2])]); // [B,1,1,T]
  const allowed = g.op('And', [causal, padOk], {}, { name: '/attention_allowed' }); // [B,1,S,T]
  const maskedValue = g.scalar(FLOAT32_LOWEST, DataType.FLOAT);

  // ---- rotary embeddings (computed in float32, HF LlamaRotaryEmbedding, rotate_half) ----
  const invFreq = [];
  for (let i = 0; i < D; i += 2) invFreq.push(Math.fround(1 / cfg.rope_theta ** (i / D)));
  const pos = g.op('Unsqueeze', [g.op('Cast', ['position_ids'], { to: DataType.FLOAT }), g.int64([2])]); // [B,S,1]
  const freqs = g.op('Mul', [pos, g.floats(invFreq)]); // [B,S,D/2]
  const emb = g.op('Concat', [freqs, freqs], { axis: -1 }); // [B,S,D]
  let cos = g.op('Unsqueeze', [g.op('Cos', [emb]), g.int64([1])], {}, { name: '/rotary_cos' }); // [B,1,S,D]
  let sin = g.op('Unsqueeze', [g.op('Sin', [emb]), g.int64([1])], {}, { name: '/rotary_sin' });
  if (isF16) {
    cos = g.op('Cast', [cos], { to: T });
    sin = g.op('Cast', [sin], { to: T });
  }
  const halfSplit = g.int64([D / 2, D / 2]);
  const rope = (x) => {
    const [x1, x2] = g.op('Split', [x, halfSplit], { axis: -1 }, { outputs: 2 });
    const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 });
    return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])]);
  };

  // ---- RMSNorm: x * rsqrt(mean(x^2) + eps) * weight, statistics in float32 ----
  const eps = g.scalar(cfg.rms_norm_eps, DataType.FLOAT);
  const rmsNorm = (x, weight, prefix) => {
    const xf = isF16 ? g.op('Cast', [x], { to: DataType.FLOAT }) : x;
    const ms = g.op('ReduceMean', [g.op('Mul', [xf, xf])], { axes: [-1], keepdims: 1 });
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, eps])])]);
    let y = g.op('Mul', [xf, inv]);
    if (isF16) y = g.op('Cast', [y], { to: T });
    return g.op('Mul', [y, weight], {}, { name: `${prefix}/output` });
  };

  const splitHeads = (x, heads) => g.op('Transpose', [g.op('Reshape', [x, g.int64([0, 0, heads, D])])], { perm: [0, 2, 1, 3] });
  const groupedShape = g.int64([0, KV, -1, 0]); // [B, NH, S, X] -> [B, KV, nRep*S, X]
  const headsShape = g.int64([0, NH, -1, 0]); // back
  const scale = scalarT(1 / Math.sqrt(D));

  let h = g.op('Gather', ['model.embed_tokens.weight', 'input_ids'], { axis: 0 }, { name: '/model/embed_tokens' });
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}`;
    const n1 = rmsNorm(h, `${p}.input_layernorm.weight`, `/${p}/input_layernorm`);
    const q = rope(splitHeads(g.op('MatMul', [n1, `${p}.self_attn.q_proj.weight`]), NH)); // [B,NH,S,D]
    const k = rope(splitHeads(g.op('MatMul', [n1, `${p}.self_attn.k_proj.weight`]), KV)); // [B,KV,S,D]
    const v = splitHeads(g.op('MatMul', [n1, `${p}.self_attn.v_proj.weight`]), KV);
    const presentK = g.op('Concat', [`past_key_values.${l}.key`, k], { axis: 2 }, { outputs: [`present.${l}.key`] });
    const presentV = g.op('Concat', [`past_key_values.${l}.value`, v], { axis: 2 }, { outputs: [`present.${l}.value`] });
    // Grouped-query attention without materializing repeated KV heads: query heads
    // kv*nRep .. kv*nRep+nRep-1 share KV head kv (HF repeat_kv), so [B,NH,S,D] viewed as
    // [B,KV,nRep*S,D] multiplies directly against [B,KV,D,T].
    const qg = g.op('Reshape', [q, groupedShape]);
    const scores = g.op('Mul', [g.op('MatMul', [qg, g.op('Transpose', [presentK], { perm: [0, 1, 3, 2] })]), scale]);
    let s4 = g.op('Reshape', [scores, headsShape]); // [B,NH,S,T]
    if (isF16) s4 = g.op('Cast', [s4], { to: DataType.FLOAT });
    // Where (not an additive mask): fully masked rows (left padding) become uniform, never NaN.
    let probs = g.op('Softmax', [g.op('Where', [allowed, s4, maskedValue])], { axis: -1 });
    if (isF16) probs = g.op('Cast', [probs], { to: T });
    const ctx = g.op('MatMul', [g.op('Reshape', [probs, groupedShape]), presentV]); // [B,KV,nRep*S,D]
    const ctx4 = g.op('Transpose', [g.op('Reshape', [ctx, headsShape])], { perm: [0, 2, 1, 3] }); // [B,S,NH,D]
    const attnOut = g.op('MatMul', [g.op('Reshape', [ctx4, g.int64([0, 0, NH * D])]), `${p}.self_attn.o_proj.weight`]);
    h = g.op('Add', [h, attnOut]);

    const n2 = rmsNorm(h, `${p}.post_attention_layernorm.weight`, `/${p}/post_attention_layernorm`);
    const gate = g.op('MatMul', [n2, `${p}.mlp.gate_proj.weight`]);
    const up = g.op('MatMul', [n2, `${p}.mlp.up_proj.weight`]);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    h = g.op('Add', [h, g.op('MatMul', [act, `${p}.mlp.down_proj.weight`])], {}, { name: `/${p}/output` });
  }
  const nf = rmsNorm(h, 'model.norm.weight', '/model/norm');
  if (cfg.tie_word_embeddings) {
    const wt = g.op('Transpose', ['model.embed_tokens.weight'], { perm: [1, 0] });
    g.op('MatMul', [nf, wt], {}, { outputs: ['logits'] });
  } else {
    g.op('MatMul', [nf, 'lm_head.weight'], {}, { outputs: ['logits'] });
  }
  return { nodes: g.nodes, constants: g.constants, inputs, outputs };
}
