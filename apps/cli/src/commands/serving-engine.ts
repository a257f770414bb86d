import {
  CapabilityUnsupportedError,
  type Engine,
  type EngineCapabilities,
  type EngineHealth,
  type GenerationRequest,
  type GenerationResult,
  type LoadedModelInfo,
  type ModelSpec,
  type StreamChunk,
  type TensorMap,
} from '@muai/core';
import { plainPrompt } from '@muai/orchestrator';
import type { ModelManager } from '@muai/orchestrator';

/**
 * Presents a ModelManager (its models, engine fallback, batching and cache) through the Engine
 * contract, which is what the server speaks. Models load on first use; `models()` lists every
 * configured model name.
 *
 * Tracing: engine-call spans (`{engine} {operation}`, one per attempt, and `batch {model}` when
 * batching) come from the OptimizationManager when `createOrchestratorFromConfig` got a tracer; they
 * parent under the server's inference span through the active context. This adapter adds none.
 */
export class ModelManagerEngine implements Engine {
  readonly specificationVersion = 'v1' as const;
  readonly name = 'muai';
  readonly capabilities: EngineCapabilities = { textGeneration: true, streaming: true, batching: true, embeddings: false, tensorInference: true };

  private readonly failures = new Map<string, string>();

  constructor(private readonly manager: ModelManager) {}

  async load(model: ModelSpec): Promise<LoadedModelInfo> {
    const loaded = await this.manager.loadModel(model.name);
    return { ...loaded.info, name: loaded.name };
  }

  async unload(modelName: string): Promise<void> {
    await this.manager.unloadModel(modelName);
  }

  models(): readonly string[] {
    return this.manager.modelNames();
  }

  /** Not ok while a model failed to load (see `modelFailed`) or an engine is marked unavailable and skipped; `detail` says which. */
  async health(): Promise<EngineHealth> {
    const problems = [...this.failures].map(([model, reason]) => `model "${model}" failed to load: ${reason}`);
    for (const [engine, reason] of Object.entries(this.manager.optimizationManager.stats().unavailable)) problems.push(`engine "${engine}" unavailable (${reason})`);
    return { ok: problems.length === 0, models: this.manager.loaded(), ...(problems.length > 0 ? { detail: problems.join('; ') } : {}) };
  }

  /** Records that loading `model` failed (health reports it until it loads). */
  modelFailed(model: string, reason: string): void {
    this.failures.set(model, reason);
  }

  /** Records that `model` loaded. */
  modelLoaded(model: string): void {
    this.failures.delete(model);
  }

  async generate(request: GenerationRequest): Promise<GenerationResult> {
    return this.manager.generate(await this.forModel(request));
  }

  async *stream(request: GenerationRequest): AsyncIterable<StreamChunk> {
    yield* this.manager.stream(await this.forModel(request));
  }

  /**
   * Chat messages for a model without a chat template (a base model such as the bundled
   * stories260K) go as one plain prompt, as the workflows send them, so /v1/chat/completions works
   * on every model the server has.
   */
  private async forModel(request: GenerationRequest): Promise<GenerationRequest> {
    if (!Array.isArray(request.messages)) return request;
    const loaded = await this.manager.loadModel(request.model ?? this.manager.defaultModel);
    if (loaded.info.chatTemplate !== false) return request;
    const { messages, ...rest } = request;
    return { ...rest, prompt: plainPrompt(messages) };
  }

  async generateBatch(requests: readonly GenerationRequest[]): Promise<Array<GenerationResult | Error>> {
    return Promise.all(requests.map((request) => this.generate(request).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error))))));
  }

  async infer(modelName: string, inputs: TensorMap): Promise<TensorMap> {
    if (!this.capabilities.tensorInference) throw new CapabilityUnsupportedError(this.name, 'tensor inference');
    return this.manager.infer(modelName, inputs);
  }

  async close(): Promise<void> {
    await this.manager.close();
  }
}
