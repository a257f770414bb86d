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
import type { ModelManager } from '@muai/orchestrator';

/** A span handle (an OpenTelemetry `Span` fits). */
interface EngineSpan {
  setAttribute?(key: string, value: string | number | boolean): unknown;
}

/**
 * The tracer calls this adapter makes; @muai/monitoring's `OTelTracer` fits. `traceEngineCall` is
 * used when present (span `{engine} {operation}`), else `withSpan`.
 */
export interface EngineCallTracer {
  withSpan<T>(name: string, attributes: Record<string, string | number | boolean> | undefined, fn: (span?: EngineSpan) => T): T;
  traceEngineCall?<T>(info: { engine: string; operation: string; model?: string; kind?: 0 | 2 }, fn: (span?: EngineSpan) => T): T;
}

export interface ModelManagerEngineOptions {
  /** Wraps every generation in an engine-call span (child of the caller's active span). */
  tracer?: EngineCallTracer;
}

/** OpenTelemetry SpanKind: INTERNAL for the in-process ONNX engine, CLIENT for engines behind HTTP. */
const spanKind = (engine: string): 0 | 2 => (engine === 'onnx' ? 0 : 2);

/**
 * Presents a ModelManager (its models, engine fallback, batching and cache) through the Engine
 * contract, which is what the server speaks. Models load on first use; `models()` lists every
 * configured model name.
 */
export class ModelManagerEngine implements Engine {
  readonly specificationVersion = 'v1' as const;
  readonly name = 'muai';
  readonly capabilities: EngineCapabilities = { textGeneration: true, streaming: true, batching: true, embeddings: false, tensorInference: true };

  private readonly tracer: EngineCallTracer | undefined;

  constructor(
    private readonly manager: ModelManager,
    options: ModelManagerEngineOptions = {},
  ) {
    this.tracer = options.tracer;
  }

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

  async health(): Promise<EngineHealth> {
    return { ok: true, models: this.manager.loaded() };
  }

  async generate(request: GenerationRequest): Promise<GenerationResult> {
    const tracer = this.tracer;
    if (!tracer) return this.manager.generate(request);
    const model = request.model ?? this.manager.defaultModel;
    // Loading is outside the engine span: the span measures the generation, and names the engine that holds the model.
    const loaded = await this.manager.loadModel(model);
    return this.engineCall(tracer, loaded.engineUsed, 'generate', model, async (span) => {
      const result = await this.manager.generate({ ...request, model });
      if (result.engineUsed !== loaded.engineUsed) span?.setAttribute?.('muai.engine.used', result.engineUsed);
      return result;
    });
  }

  stream(request: GenerationRequest): AsyncIterable<StreamChunk> {
    const tracer = this.tracer;
    if (!tracer) return this.manager.stream(request);
    const model = request.model ?? this.manager.defaultModel;
    return {
      [Symbol.asyncIterator]: () => {
        const open = async () => {
          const loaded = await this.manager.loadModel(model);
          return spannedIterator((fn) => this.engineCall(tracer, loaded.engineUsed, 'stream', model, fn), () => this.manager.stream({ ...request, model }));
        };
        let iterator: Promise<AsyncIterator<StreamChunk>> | undefined;
        return {
          next: async () => (await (iterator ??= open())).next(),
          return: async () => (iterator ? ((await iterator).return?.() ?? { done: true, value: undefined }) : { done: true, value: undefined }),
        };
      },
    };
  }

  private engineCall<T>(tracer: EngineCallTracer, engine: string, operation: string, model: string, fn: (span?: EngineSpan) => Promise<T>): Promise<T> {
    if (tracer.traceEngineCall) return tracer.traceEngineCall({ engine, operation, model, kind: spanKind(engine) }, fn);
    return tracer.withSpan(`${engine} ${operation}`, { 'muai.engine.name': engine, 'muai.engine.operation': operation, 'gen_ai.request.model': model }, fn);
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

/**
 * Iterates `source` from inside a span that stays open until the iteration ends (done, error, or
 * the consumer's `return()`). The source is pulled from a task running inside the span, so that
 * anything it starts parents under the span.
 */
function spannedIterator<T>(inSpan: (fn: (span?: EngineSpan) => Promise<void>) => Promise<void>, source: () => AsyncIterable<T>): AsyncIterator<T> {
  type Demand = 'next' | 'stop';
  const demands: Demand[] = [];
  let wakeProducer: (() => void) | undefined;
  const replies: Array<{ resolve: (step: IteratorResult<T>) => void; reject: (error: unknown) => void }> = [];
  let finished = false;

  const nextDemand = async (): Promise<Demand> => {
    while (demands.length === 0) await new Promise<void>((wake) => (wakeProducer = wake));
    return demands.shift()!;
  };
  const reply = (step: IteratorResult<T>) => replies.shift()?.resolve(step);

  let started = false;
  const start = () => {
    if (started) return;
    started = true;
    inSpan(async () => {
      const iterator = source()[Symbol.asyncIterator]();
      for (;;) {
        const demand = await nextDemand();
        if (demand === 'stop') {
          finished = true;
          await iterator.return?.();
          reply({ done: true, value: undefined });
          return;
        }
        const step = await iterator.next();
        if (step.done) finished = true;
        reply(step);
        if (step.done) return;
      }
    }).catch((error: unknown) => {
      // The span recorded the error; the consumer gets it once, then the iterator is done.
      finished = true;
      for (const pending of replies.splice(0)) pending.reject(error);
    });
  };
  const ask = (demand: Demand): Promise<IteratorResult<T>> => {
    if (finished) return Promise.resolve({ done: true, value: undefined });
    start();
    return new Promise((resolve, reject) => {
      replies.push({ resolve, reject });
      demands.push(demand);
      wakeProducer?.();
      wakeProducer = undefined;
    });
  };
  return { next: () => ask('next'), return: () => ask('stop') };
}
