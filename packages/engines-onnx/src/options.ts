/** Options of the ONNX engine. Every field is optional; defaults are listed per field. */
export interface OnnxEngineOptions {
  /** Threads used inside one operator. Default 0: ONNX Runtime's choice (one per physical core). */
  intraOpNumThreads?: number;
  /** Threads used across independent operators. Default 0: ONNX Runtime's choice. */
  interOpNumThreads?: number;
  /**
   * Whether ONNX Runtime's intra-op threads spin (busy-wait) between parallel sections and after a
   * run instead of sleeping (session config `session.intra_op.allow_spinning`). Default false:
   * measured on a shared 2-core machine, spinning threads took the cores from everything else in
   * the process and the machine (benchmarks/RESULTS.md, decode). True is ONNX Runtime's own default
   * and can gain a little on a quiet machine with cores to spare.
   */
  allowSpinning?: boolean;
  /**
   * Whether a young-generation GC (a scavenge, 0.1–0.4 ms) runs after decode steps (once they have
   * returned 2 MiB of outputs since the last one), so that the key/value buffers ONNX Runtime
   * allocates per step are freed while young. Default true:
   * without it, V8 answers their external-memory growth with a full mark-compact every few steps
   * once the process holds a real heap (a tokenizer, a server), measured at 1–2 ms more CPU per
   * step at position 512 (benchmarks/RESULTS.md, decode; internal/young-gc.ts says how).
   */
  scavengeEachStep?: boolean;
  /** Graph optimizations applied at load. Default `all`. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Execution providers, in order of preference. Default `['cpu']`. */
  executionProviders?: readonly string[];
  /** New tokens generated when a request gives no `maxTokens`. Default 128. */
  defaultMaxTokens?: number;
  /** ONNX Runtime log level: 0 verbose ... 3 error, 4 fatal. Default 3. */
  logSeverityLevel?: 0 | 1 | 2 | 3 | 4;
  /** Continuous batching: most sequences decoded together in one step, per model. Default 16; 1 runs requests one at a time. */
  maxBatchSize?: number;
  /**
   * Continuous batching: most key/value token slots a model's running batch may reach (rows × the
   * longest row's prompt + maxTokens, left padding included). A request waits when joining would
   * exceed it (a lone request always runs). Default 65536.
   */
  maxBatchTokens?: number;
  /**
   * Prefix reuse across requests through the paged KV block store (@muai/kv-cache). Off unless
   * given with `enabled` not false. The orchestrator passes it when `optimization.cache.enabled`.
   */
  kvCache?: OnnxKvCacheOptions;
}

/** The prefix cache of the ONNX engine (one block store per loaded language model). */
export interface OnnxKvCacheOptions {
  /** Default true when the object is given. `MUAI_OPT_CACHE_ENABLED=false` at the orchestrator level leaves it out. */
  enabled?: boolean;
  /** Memory budget per model in MiB (config `cache.max_memory_mb`). Default 512. */
  maxMemoryMb?: number;
  /** Memory budget per model in bytes; wins over maxMemoryMb. */
  maxMemoryBytes?: number;
  /** Tokens per block (config `cache.block_size`). Default 16. */
  blockSize?: number;
  /** False keeps the store but shares nothing (config `cache.prefix_reuse`). Default true. */
  prefixReuse?: boolean;
}

/**
 * Per-model options, given as `ModelSpec.options` to `load()`. Session fields override the
 * engine's for this model.
 */
export interface OnnxModelOptions extends Omit<OnnxEngineOptions, 'defaultMaxTokens' | 'kvCache'> {
  /**
   * Whether sequences of different lengths share a decode step (left padding). Default true; set
   * false for graphs whose attention ignores the padding mask (then only equal-length sequences batch).
   */
  raggedBatching?: boolean;
  /** `causal-lm`, `tensor`, or `auto` (default): a language model when config.json names a *ForCausalLM/*LMHeadModel architecture or the graph takes past key/values. */
  kind?: 'auto' | 'causal-lm' | 'tensor';
  /** Context window in tokens. Default: config.json `max_position_embeddings` (or `n_positions`, tokenizer_config `model_max_length`, else 2048). */
  contextLength?: number;
}
