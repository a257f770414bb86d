/** Options of the ONNX engine. Every field is optional; defaults are listed per field. */
export interface OnnxEngineOptions {
  /** Threads used inside one operator. Default 0: ONNX Runtime's choice (one per physical core). */
  intraOpNumThreads?: number;
  /** Threads used across independent operators. Default 0: ONNX Runtime's choice. */
  interOpNumThreads?: number;
  /** Graph optimizations applied at load. Default `all`. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Execution providers, in order of preference. Default `['cpu']`. */
  executionProviders?: readonly string[];
  /** New tokens generated when a request gives no `maxTokens`. Default 128. */
  defaultMaxTokens?: number;
  /** ONNX Runtime log level: 0 verbose ... 3 error, 4 fatal. Default 3. */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
}

/**
 * Per-model options, given as `ModelSpec.options` to `load()`. Session fields override the
 * engine's for this model.
 */
export interface OnnxModelOptions extends Omit<OnnxEngineOptions, 'defaultMaxTokens'> {
  /** `causal-lm`, `tensor`, or `auto` (default): a language model when config.json names a *ForCausalLM/*LMHeadModel architecture or the graph takes past key/values. */
  kind?: 'auto' | 'causal-lm' | 'tensor';
  /** Context window in tokens. Default: config.json `max_position_embeddings` (or `n_positions`, tokenizer_config `model_max_length`, else 2048). */
  contextLength?: number;
}
