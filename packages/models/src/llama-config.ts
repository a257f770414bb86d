import type { LlamaGraphConfig } from './onnx/llama-graph.js';

/** The sizes that vary between Llama models; everything else in config.json is fixed here. */
export interface LlamaSizes {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  vocab_size: number;
  max_position_embeddings: number;
  rms_norm_eps: number;
  tie_word_embeddings: boolean;
}

/**
 * A Hugging Face LlamaConfig (config.json of LlamaForCausalLM) for the graph buildLlamaGraph
 * writes: head_dim = hidden_size / num_attention_heads, RoPE base 10000 without scaling, SiLU, no
 * biases, ids <unk> 0 / <s> 1 / </s> 2, float32.
 */
export function llamaConfigJson(sizes: LlamaSizes): LlamaGraphConfig & Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: sizes.hidden_size,
    intermediate_size: sizes.intermediate_size,
    num_hidden_layers: sizes.num_hidden_layers,
    num_attention_heads: sizes.num_attention_heads,
    num_key_value_heads: sizes.num_key_value_heads,
    head_dim: sizes.hidden_size / sizes.num_attention_heads,
    vocab_size: sizes.vocab_size,
    max_position_embeddings: sizes.max_position_embeddings,
    rms_norm_eps: sizes.rms_norm_eps,
    rope_theta: 10000,
    rope_scaling: null,
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    bos_token_id: 1,
    eos_token_id: 2,
    pad_token_id: 0,
    tie_word_embeddings: sizes.tie_word_embeddings,
    torch_dtype: 'float32',
    use_cache: true,
  };
}
