// Builds the ONNX graph of a Llama-architecture decoder with past key/values I/O, standard ONNX
// ops only (opset 17). The math follows Hugging Face's LlamaForCausalLM:
//   h = embed_tokens[input_ids]
//   per layer: h += o_proj(attn(rope(q_proj(n)), rope(k_proj(n)), v_proj(n)))   with n = rms(h)
//              h += down_proj(silu(gate_proj(n)) * up_proj(n))                   with n = rms(h)
//   logits = lm_head(rms(h))
// Linear weights are stored transposed ([in, out]) so that y = MatMul(x, W).
// Used by the llama2.c converter and by tools/model-gen (random-weight test models).
import { AttributeType, DataType } from './onnx-proto.js';
import type { NodeProtoObject, TensorProtoObject, ValueInfoObject } from './onnx-proto.js';

export const OPSET = 17;
export const IR_VERSION = 8;

const FLOAT32_LOWEST = -3.4028234663852886e38;

/** The config.json fields the graph needs (Hugging Face LlamaConfig names). */
export interface LlamaGraphConfig {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  vocab_size: number;
  rope_theta: number;
  rms_norm_eps: number;
  tie_word_embeddings: boolean;
}

/** One weight tensor of the graph; `kind` says how a random initializer fills it. */
export interface WeightSpec {
  name: string;
  dims: number[];
  kind: 'embedding' | 'linear' | 'ones';
}

/** The weight tensors of a config, in graph order. Linear weights are [in, out]. */
export function weightSpecs(config: LlamaGraphConfig): WeightSpec[] {
  const H = config.hidden_size;
  const D = config.head_dim;
  const specs: WeightSpec[] = [{ name: 'model.embed_tokens.weight', dims: [config.vocab_size, H], kind: 'embedding' }];
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    specs.push(
      { name: `${p}.input_layernorm.weight`, dims: [H], kind: 'ones' },
      { name: `${p}.self_attn.q_proj.weight`, dims: [H, config.num_attention_heads * D], kind: 'linear' },
      { name: `${p}.self_attn.k_proj.weight`, dims: [H, config.num_key_value_heads * D], kind: 'linear' },
      { name: `${p}.self_attn.v_proj.weight`, dims: [H, config.num_key_value_heads * D], kind: 'linear' },
      { name: `${p}.self_attn.o_proj.weight`, dims: [config.num_attention_heads * D, H], kind: 'linear' },
      { name: `${p}.post_attention_layernorm.weight`, dims: [H], kind: 'ones' },
      { name: `${p}.mlp.gate_proj.weight`, dims: [H, config.intermediate_size], kind: 'linear' },
      { name: `${p}.mlp.up_proj.weight`, dims: [H, config.intermediate_size], kind: 'linear' },
      { name: `${p}.mlp.down_proj.weight`, dims: [config.intermediate_size, H], kind: 'linear' },
    );
  }
  specs.push({ name: 'model.norm.weight', dims: [H], kind: 'ones' });
  if (!config.tie_word_embeddings) specs.push({ name: 'lm_head.weight', dims: [H, config.vocab_size], kind: 'linear' });
  return specs;
}

/** Number of weights (parameters) of a config. */
export function countParams(config: LlamaGraphConfig): number {
  return weightSpecs(config).reduce((n, spec) => n + spec.dims.reduce((a, b) => a * b, 1), 0);
}

function valueInfo(name: string, elemType: number, dims: Array<number | string>): ValueInfoObject {
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

type AttributeValue = number | number[] | string;

function attribute(name: string, value: AttributeValue): Record<string, unknown> {
  if (typeof value === 'number' && Number.isInteger(value)) return { name, type: AttributeType.INT, i: value };
  if (typeof value === 'number') return { name, type: AttributeType.FLOAT, f: value };
  if (Array.isArray(value)) return { name, type: AttributeType.INTS, ints: value };
  return { name, type: AttributeType.STRING, s: Buffer.from(value) };
}

class GraphBuilder {
  readonly nodes: NodeProtoObject[] = [];
  readonly constants: TensorProtoObject[] = [];
  private counter = 0;

  fresh(hint: string): string {
    this.counter += 1;
    return `/${hint}_${this.counter}`;
  }

  /** Adds a node with one output; returns its name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttributeValue> = {}, options: { outputs?: string[]; name?: string } = {}): string {
    return this.opN(opType, inputs, attrs, { ...options, count: 1 })[0]!;
  }

  /** Adds a node with several outputs; returns their names. */
  opN(opType: string, inputs: string[], attrs: Record<string, AttributeValue>, options: { outputs?: string[]; name?: string; count: number }): string[] {
    const base = options.name ?? this.fresh(opType);
    const output = options.outputs ?? Array.from({ length: options.count }, (_, i) => `${base}/out${i}`);
    this.nodes.push({ name: base, opType, input: inputs, output, attribute: Object.entries(attrs).map(([key, v]) => attribute(key, v)) });
    return output;
  }

  private constant(hint: string, dims: number[], dataType: number, rawData: Buffer): string {
    const name = this.fresh(hint);
    this.constants.push({ name, dims, dataType, rawData });
    return name;
  }

  int64(values: number[], dims: number[] = [values.length]): string {
    const buf = Buffer.alloc(values.length * 8);
    values.forEach((v, i) => buf.writeBigInt64LE(BigInt(v), i * 8));
    return this.constant('const_i64', dims, DataType.INT64, buf);
  }

  scalarInt64(value: number): string {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(value));
    return this.constant('const', [], DataType.INT64, buf);
  }

  scalarFloat(value: number): string {
    const buf = Buffer.alloc(4);
    buf.writeFloatLE(value);
    return this.constant('const', [], DataType.FLOAT, buf);
  }

  scalarFloat16Bits(bits: number): string {
    const buf = Buffer.alloc(2);
    buf.writeUInt16LE(bits);
    return this.constant('const', [], DataType.FLOAT16, buf);
  }

  floats(values: number[]): string {
    const buf = Buffer.alloc(values.length * 4);
    values.forEach((v, i) => buf.writeFloatLE(v, i * 4));
    return this.constant('const_f32', [values.length], DataType.FLOAT, buf);
  }
}

/** What buildLlamaGraph returns: nodes, small constants and I/O; weights are the caller's initializers. */
export interface LlamaGraph {
  nodes: NodeProtoObject[];
  constants: TensorProtoObject[];
  inputs: ValueInfoObject[];
  outputs: ValueInfoObject[];
}

/**
 * Builds the graph (nodes, small constants, I/O). Weights are referenced by name only
 * (weightSpecs): the caller adds them as initializers (inline or external).
 * I/O: input_ids, attention_mask, position_ids (int64), past_key_values.N.key|value
 * [batch, kv_heads, past, head_dim]; logits [batch, seq, vocab], present.N.key|value (past + new).
 * @param dtype 'fp32' | 'fp16' (weights, hidden states, KV cache and logits)
 * @param toFloat16Bits number -> float16 bits, for fp16 scalars (needed only when dtype is fp16)
 */
export function buildLlamaGraph(config: LlamaGraphConfig, dtype: 'fp32' | 'fp16' = 'fp32', toFloat16Bits?: (value: number) => number): LlamaGraph {
  const g = new GraphBuilder();
  const isF16 = dtype === 'fp16';
  const T = isF16 ? DataType.FLOAT16 : DataType.FLOAT;
  if (isF16 && toFloat16Bits === undefined) throw new Error('an fp16 graph needs a toFloat16Bits helper');
  const D = config.head_dim;
  const NH = config.num_attention_heads;
  const KV = config.num_key_value_heads;
  const L = config.num_hidden_layers;
  if (NH % KV !== 0) throw new Error('num_attention_heads must be a multiple of num_key_value_heads');
  if (D % 2 !== 0) throw new Error('head_dim must be even');

  const inputs = [
    valueInfo('input_ids', DataType.INT64, ['batch_size', 'sequence_length']),
    valueInfo('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']),
    valueInfo('position_ids', DataType.INT64, ['batch_size', 'sequence_length']),
  ];
  const outputs = [valueInfo('logits', T, ['batch_size', 'sequence_length', config.vocab_size])];
  for (let l = 0; l < L; l++) {
    for (const kind of ['key', 'value']) inputs.push(valueInfo(`past_key_values.${l}.${kind}`, T, ['batch_size', KV, 'past_sequence_length', D]));
  }
  for (let l = 0; l < L; l++) {
    for (const kind of ['key', 'value']) outputs.push(valueInfo(`present.${l}.${kind}`, T, ['batch_size', KV, 'total_sequence_length', D]));
  }

  const scalarT = (v: number): string => (isF16 ? g.scalarFloat16Bits(toFloat16Bits!(v)) : g.scalarFloat(v));

  // ---- attention mask: allowed[b, 0, i, j] = (j <= past + i) && attention_mask[b, j] == 1 ----
  const seqLen = g.op('Gather', [g.op('Shape', ['input_ids']), g.scalarInt64(1)], { axis: 0 });
  const totalLen = g.op('Gather', [g.op('Shape', ['attention_mask']), g.scalarInt64(1)], { axis: 0 });
  const pastLen = g.op('Sub', [totalLen, seqLen]);
  const one = g.scalarInt64(1);
  const keyPos = g.op('Range', [g.scalarInt64(0), totalLen, one]); // [T]
  const queryPos = g.op('Unsqueeze', [g.op('Range', [pastLen, totalLen, one]), g.int64([1])]); // [S, 1]
  const causal = g.op('LessOrEqual', [keyPos, queryPos]); // [S, T]
  const padOk = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], { to: DataType.BOOL }), g.int64([1, 2])]); // [B,1,1,T]
  const allowed = g.op('And', [causal, padOk], {}, { name: '/attention_allowed' }); // [B,1,S,T]
  const maskedValue = g.scalarFloat(FLOAT32_LOWEST);

  // ---- rotary embeddings (computed in float32, HF LlamaRotaryEmbedding, rotate_half) ----
  const invFreq: number[] = [];
  for (let i = 0; i < D; i += 2) invFreq.push(Math.fround(1 / config.rope_theta ** (i / D)));
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
  const rope = (x: string): string => {
    const [x1, x2] = g.opN('Split', [x, halfSplit], { axis: -1 }, { count: 2 }) as [string, string];
    const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 });
    return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])]);
  };

  // ---- RMSNorm: x * rsqrt(mean(x^2) + eps) * weight, statistics in float32 ----
  const eps = g.scalarFloat(config.rms_norm_eps);
  const rmsNorm = (x: string, weight: string, prefix: string): string => {
    const xf = isF16 ? g.op('Cast', [x], { to: DataType.FLOAT }) : x;
    const ms = g.op('ReduceMean', [g.op('Mul', [xf, xf])], { axes: [-1], keepdims: 1 });
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, eps])])]);
    let y = g.op('Mul', [xf, inv]);
    if (isF16) y = g.op('Cast', [y], { to: T });
    return g.op('Mul', [y, weight], {}, { name: `${prefix}/output` });
  };

  const splitHeads = (x: string, heads: number): string => g.op('Transpose', [g.op('Reshape', [x, g.int64([0, 0, heads, D])])], { perm: [0, 2, 1, 3] });
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
    const context = g.op('MatMul', [g.op('Reshape', [probs, groupedShape]), presentV]); // [B,KV,nRep*S,D]
    const context4 = g.op('Transpose', [g.op('Reshape', [context, headsShape])], { perm: [0, 2, 1, 3] }); // [B,S,NH,D]
    const attnOut = g.op('MatMul', [g.op('Reshape', [context4, g.int64([0, 0, NH * D])]), `${p}.self_attn.o_proj.weight`]);
    h = g.op('Add', [h, attnOut]);

    const n2 = rmsNorm(h, `${p}.post_attention_layernorm.weight`, `/${p}/post_attention_layernorm`);
    const gate = g.op('MatMul', [n2, `${p}.mlp.gate_proj.weight`]);
    const up = g.op('MatMul', [n2, `${p}.mlp.up_proj.weight`]);
    const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]);
    h = g.op('Add', [h, g.op('MatMul', [act, `${p}.mlp.down_proj.weight`])], {}, { name: `/${p}/output` });
  }
  const nf = rmsNorm(h, 'model.norm.weight', '/model/norm');
  if (config.tie_word_embeddings) {
    const wt = g.op('Transpose', ['model.embed_tokens.weight'], { perm: [1, 0] });
    g.op('MatMul', [nf, wt], {}, { outputs: ['logits'] });
  } else {
    g.op('MatMul', [nf, 'lm_head.weight'], {}, { outputs: ['logits'] });
  }
  return { nodes: g.nodes, constants: g.constants, inputs, outputs };
}
