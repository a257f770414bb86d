import type { GenerationRequest, GenerationResult, StreamChunk, TensorMap } from './types.js';

/** What an engine can do. Callers check flags, never `instanceof`. */
export interface EngineCapabilities {
  readonly textGeneration: boolean;
  readonly streaming: boolean;
  /** Serves several generation requests together (continuous or request-level batching). */
  readonly batching: boolean;
  readonly embeddings: boolean;
  /** Raw tensor inference on plain ONNX (or similar) models. */
  readonly tensorInference: boolean;
}

/** A model to load, as configured in system.yaml (`models.<name>`). */
export interface ModelSpec {
  /** The name callers use. */
  name: string;
  /** A folder, file, or a server-side model id, depending on the engine. */
  path: string;
  /** `cpu`, `cuda`, ... Engines map it to their own providers. */
  device?: string;
  /** Element type of weights to prefer: `fp32`, `fp16`, `q8`, ... */
  dtype?: string;
  /** Ask for 8-bit weights (model_quantized.onnx for ONNX). */
  loadIn8bit?: boolean;
  /** Engine-specific options. */
  options?: Record<string, unknown>;
}

export interface LoadedModelInfo {
  name: string;
  /** `causal-lm` for text generation, `tensor` for raw tensor models. */
  kind: 'causal-lm' | 'tensor';
  /** Context window in tokens, for language models. */
  contextLength?: number;
  /**
   * false when the model has no chat template (a base model that continues text): send `prompt`,
   * not `messages`. Absent: unknown, `messages` are accepted (remote servers apply their own).
   */
  chatTemplate?: boolean;
  /** Approximate memory held, in bytes, where known. */
  memoryBytes?: number;
}

export interface EngineHealth {
  ok: boolean;
  /** Short reason when not ok. */
  detail?: string;
  models: readonly string[];
}

/** Options common to every engine call. */
export interface InferOptions {
  signal?: AbortSignal;
}

/**
 * The engine contract. Version-tagged so that a future v2 can live beside it.
 * Methods for capabilities an engine lacks throw `CapabilityUnsupportedError`.
 */
export interface Engine {
  readonly specificationVersion: 'v1';
  /** Stable short name, e.g. `onnx`, `vllm`, `deepspeed`. Reported as `engineUsed`. */
  readonly name: string;
  readonly capabilities: EngineCapabilities;
  load(model: ModelSpec): Promise<LoadedModelInfo>;
  unload(modelName: string): Promise<void>;
  /** Names of loaded (or served) models. */
  models(): readonly string[];
  health(): Promise<EngineHealth>;
  generate(request: GenerationRequest): Promise<GenerationResult>;
  stream(request: GenerationRequest): AsyncIterable<StreamChunk>;
  /** Results in the order of `requests`; one failure does not fail the others. */
  generateBatch(requests: readonly GenerationRequest[]): Promise<Array<GenerationResult | Error>>;
  infer(modelName: string, inputs: TensorMap, options?: InferOptions): Promise<TensorMap>;
  /** Releases everything (sessions, sockets, child processes). */
  close(): Promise<void>;
}

/**
 * `ModelSpec.dtype` values and the file-name suffix of their ONNX graph in the Hugging Face Optimum /
 * transformers.js layout (`onnx/model_quantized.onnx` is `q8`): the one table the engine that loads a
 * folder and the Hub client that downloads one both read.
 */
export const DTYPE_SUFFIXES: Readonly<Record<string, string>> = Object.freeze({
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
});
