/** Request and result types shared by every engine and by the orchestrator. */

export type ChatRole = 'system' | 'user' | 'assistant' | 'tool';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

/** Sampling parameters. Omitted fields take the engine's defaults (greedy when temperature is 0). */
export interface SamplingParameters {
  /** 0 means greedy. Default 0 in MuAI engines unless the model's generation_config says otherwise. */
  temperature?: number;
  /** Keep only the k most likely tokens; 0 or undefined disables. */
  topK?: number;
  /** Nucleus sampling: keep the smallest set whose probability reaches p; 1 disables. */
  topP?: number;
  /** Keep tokens whose probability is at least minP times the top token's. */
  minP?: number;
  /** CTRL-style penalty (>1 discourages repeats); 1 disables. */
  repetitionPenalty?: number;
  /** Makes sampling reproducible. */
  seed?: number;
}

/** A generation request: either `prompt` (plain completion) or `messages` (chat template applied). */
export interface GenerationRequest extends SamplingParameters {
  /** The model name as configured or loaded; engines with one model may ignore it. */
  model?: string;
  prompt?: string;
  messages?: readonly ChatMessage[];
  /** Maximum new tokens. */
  maxTokens?: number;
  /** Stop sequences: generation ends before the first occurrence, which is not returned. */
  stop?: readonly string[];
  /** Token ids that end generation. */
  stopTokenIds?: readonly number[];
  /**
   * Keep generating past the model's end-of-sequence token until `maxTokens` (vLLM's `ignore_eos`):
   * fixed output lengths for benchmarks and tests. Stop sequences and `stopTokenIds` still apply.
   */
  ignoreEos?: boolean;
  /**
   * Cancels the request; the engine frees its memory at once. Already aborted when the request
   * arrives: rejected with REQUEST_ABORTED, nothing runs. Aborted while running: the result (or the
   * stream's final chunk) ends with finishReason `abort` and the text produced so far.
   */
  signal?: AbortSignal;
  /**
   * The HTTP `Via` entries of the MuAI servers this request has passed through (e.g.
   * `1.1 muai-3f2a9c`). Remote engines send them on, so a server that sees its own entry come back
   * answers LOOP_DETECTED instead of forwarding the request in a circle.
   */
  via?: readonly string[];
  /** Scheduling priority where a queue exists (higher first). Default 0. */
  priority?: number;
}

export type FinishReason = 'stop' | 'length' | 'abort' | 'error';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/** Timings of one request, in milliseconds unless stated. */
export interface Timings {
  /** Time from arrival to the first generated token. */
  ttftMs: number;
  /** Time from arrival to the end. */
  totalMs: number;
  /** Completion tokens per second over the decode phase. */
  tokensPerSecond: number;
  /** Time spent waiting in a queue before the engine started. */
  queueMs?: number;
}

export interface GenerationResult {
  text: string;
  finishReason: FinishReason;
  usage: Usage;
  timings: Timings;
  /** Name of the engine that served the request, e.g. `onnx`, `vllm`. */
  engineUsed: string;
  model: string;
  /** Generated token ids, where the engine knows them. */
  tokenIds?: readonly number[];
}

/** One piece of a streamed generation. The last chunk carries `finishReason` and `usage`. */
export interface StreamChunk {
  /** Text added by this chunk (may be empty on the final chunk). */
  text: string;
  tokenId?: number;
  finishReason?: FinishReason;
  usage?: Usage;
  timings?: Timings;
  /** The engine that produced this chunk, where a facade chooses among engines. */
  engineUsed?: string;
}

export type TensorType = 'float32' | 'float16' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool' | 'string';

export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | readonly string[];

/** A plain tensor, independent of any runtime. float16 data is raw 16-bit values in a Uint16Array. */
export interface TensorLike {
  type: TensorType;
  data: TensorData;
  dims: readonly number[];
}

export type TensorMap = Record<string, TensorLike>;
