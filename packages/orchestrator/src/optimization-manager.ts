import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import {
  EngineUnavailableError,
  InvalidRequestError,
  MuaiError,
  ModelNotFoundError,
  NOOP_SPAN,
  combineMetricsSinks,
  throwIfAborted,
  toTracer,
} from '@muai/core';
import { defaultModelPath as bundledDefaultModelPath } from '@muai/models';
import type {
  Engine,
  FallbackRecord,
  GenerationRequest,
  GenerationResult,
  LoadedModelInfo,
  MetricsSink,
  ModelSpec,
  Span,
  StreamChunk,
  TensorMap,
  Tracer,
  TracerInput,
} from '@muai/core';
import { isRequestError, messageOf, remoteFailureReason } from './internal/errors.js';
import { consoleLogger, reportOnce, safely } from './internal/logger.js';
import type { Logger } from './internal/logger.js';
import { resolveHubModel } from './internal/hub-models.js';
import { looksLocal } from './internal/paths.js';
import { StreamPump } from './internal/stream-pump.js';
import { createEngine } from './internal/engine-loader.js';
import { BatchSpans, traceEngineAttempt, type TraceSpec } from './internal/engine-spans.js';
import { camelCaseKeys, canonicalEngineName, engineOrderOf, normalizeOptimizationConfig } from './optimization-config.js';
import type { EngineSectionInput, OptimizationConfigInput, OptimizationSettings } from './optimization-config.js';

/** A model the OptimizationManager can serve: the core `ModelSpec` plus an optional engine pin. */
export interface ModelEntry extends ModelSpec {
  /** Engine to try first for this model (`models.<name>.engine`), e.g. `vllm`; `pytorch` means `onnx`. */
  engine?: string;
}

/** What an engine factory receives. */
export interface EngineFactoryContext {
  /** Canonical engine name (`onnx`, `vllm`, `deepspeed`, or a custom one). */
  name: string;
  /** The engine's config section (`optimization.<name>`), snake_case keys as in YAML. */
  section: EngineSectionInput;
  settings: OptimizationSettings;
}

/** Creates an engine. Throwing (or rejecting) marks the engine unavailable: one warning, one fallback. */
export type EngineFactory = (context: EngineFactoryContext) => Engine | Promise<Engine>;

/** What the OptimizationManager needs from a batcher (@muai/batcher's `createBatcher` result fits). */
export interface BatcherLike<I, O> {
  submit(input: I, options?: { signal?: AbortSignal; priority?: number }): Promise<O>;
  close?(): unknown;
}

export interface BatcherFactoryOptions {
  batchFn: (inputs: readonly GenerationRequest[]) => Promise<Array<GenerationResult | Error>>;
  maxBatchSize: number;
  batchTimeoutMs: number;
  maxQueueSize: number;
  /** The remaining `optimization.batcher` keys, camelCased. */
  [key: string]: unknown;
}

export type BatcherFactory = (options: BatcherFactoryOptions) => BatcherLike<GenerationRequest, GenerationResult | Error> | Promise<BatcherLike<GenerationRequest, GenerationResult | Error>>;

export interface OptimizationManagerOptions {
  /** Engine factories by name; they replace the built-in loaders (tests: `{ onnx: () => new FakeEngine({ name: 'onnx' }) }`). */
  engines?: Record<string, EngineFactory>;
  /** Models this manager knows by name. Unknown names are passed through (a local folder or a server-side id). */
  models?: Record<string, ModelSpec & { engine?: string }>;
  /** Where warnings go. Default: `console.warn` with a `[muai]` prefix. */
  logger?: Logger;
  /** Receives fallbacks and batch sizes (e.g. a PrometheusExporter, or several via `combineMetricsSinks`). */
  metrics?: Partial<MetricsSink>;
  /** Called with every fallback, with the model name. */
  onFallback?: (record: FallbackRecord) => void;
  /** Loads engine packages; default is `import()`. Tests replace it to simulate a missing package. */
  importModule?: (specifier: string) => Promise<unknown>;
  /** Builds a batcher per model and engine when `optimization.batcher.enabled`. Default: @muai/batcher's `createBatcher`. */
  batcherFactory?: BatcherFactory;
  /** How long an unavailable engine is skipped before it is tried again, in ms. Default 30000. */
  retryUnavailableAfterMs?: number;
  /** Folder relative model paths are resolved against. Default: the current directory. */
  baseDirectory?: string;
  /** Environment (for `MUAI_MODEL`). Default: `process.env`. */
  env?: Record<string, string | undefined>;
  /** Folder of the `default` model when MUAI_MODEL is unset. Default: the model bundled with @muai/models (stories260K). */
  defaultModelPath?: string;
  /**
   * Traces every engine attempt (span `{engine} {operation}`, e.g. `onnx generate`) and every batch
   * the batcher dispatches (span `batch {model}`); @muai/monitoring's `OTelTracer` fits. Absent: no
   * tracing work at all.
   */
  tracer?: TracerInput;
}

/** Inputs of a generation through `infer`: a prompt or chat messages plus generation options. */
export type GenerationInputs = Omit<GenerationRequest, 'model'> & ({ prompt: string } | { messages: GenerationRequest['messages'] & object });

/** The result of `OptimizationManager.infer`, as in the seed: `outputs` and `engineUsed`. */
export interface InferenceResult<O> {
  outputs: O;
  /** The engine that served the request (`onnx`, `vllm`, `deepspeed`, ...). */
  engineUsed: string;
  model: string;
  /** Wall time in the manager, in milliseconds, including any fallback. */
  latencyMs: number;
}

/** A streamed chunk, labelled with the engine that produced it. */
export interface EngineStreamChunk extends StreamChunk {
  engineUsed: string;
}

export interface OptimizationStats {
  /** Fallbacks from one engine to the next since start. */
  fallbacks: number;
  fallbacksByEngine: Record<string, number>;
  /** Engines currently skipped, with the reason. */
  unavailable: Record<string, string>;
  /** Requests served, by engine. */
  requestsByEngine: Record<string, number>;
}

interface Slot {
  name: string;
  engine?: Engine;
  creating?: Promise<Engine | undefined>;
  unavailableReason?: string;
  unavailableAt?: number;
  loaded: Map<string, Promise<LoadedModelInfo>>;
  batchers: Map<string, Promise<BatcherLike<GenerationRequest, GenerationResult | Error> | undefined>>;
}

interface Attempt {
  engine: string;
  code: string;
  message: string;
}

function isGenerationInputs(inputs: unknown): inputs is GenerationInputs {
  if (typeof inputs !== 'object' || inputs === null) return false;
  const record = inputs as Record<string, unknown>;
  return typeof record.prompt === 'string' || Array.isArray(record.messages);
}

/**
 * Chooses an engine per request in @muai/config's engine order (see `engineOrderOf`): remote
 * engines switched on first, then `engine_preference` among the enabled ones, the embedded `onnx`
 * engine (alias `pytorch`) last as the fallback. A package that is not installed or a server
 * that does not answer is skipped with one warning and one counted fallback; with `fallback_on_error`
 * a failed request is retried on the next engine. Every result names `engineUsed`.
 */
export class OptimizationManager {
  readonly settings: OptimizationSettings;
  private readonly options: OptimizationManagerOptions;
  private readonly logger: Logger;
  private readonly tracer: Tracer;
  private readonly metrics: MetricsSink;
  private readonly slots = new Map<string, Slot>();
  private readonly models = new Map<string, ModelEntry>();
  private readonly warned = new Set<string>();
  private readonly counters: OptimizationStats = { fallbacks: 0, fallbacksByEngine: {}, unavailable: {}, requestsByEngine: {} };
  private readonly batchSpans: BatchSpans;

  /**
   * @param config the `optimization` section (or a whole config holding one), e.g. from
   *   `loadOptimizationConfig`. Omitted: optimization off, only the embedded engine.
   */
  constructor(config?: OptimizationConfigInput | { optimization?: OptimizationConfigInput | undefined }, options: OptimizationManagerOptions = {}) {
    this.settings = normalizeOptimizationConfig(config);
    this.options = options;
    this.logger = options.logger ?? consoleLogger;
    this.tracer = toTracer(options.tracer);
    this.metrics = combineMetricsSinks([options.metrics], (error, method) => reportOnce(this.logger, this.warned, `metrics.${method}`, error));
    this.batchSpans = new BatchSpans(this.tracer, this.metrics);
    const env = options.env ?? process.env;
    this.models.set('default', { name: 'default', path: env.MUAI_MODEL ?? options.defaultModelPath ?? bundledDefaultModelPath() });
    for (const [name, spec] of Object.entries(options.models ?? {})) this.registerModel({ ...spec, name });
  }

  /** Makes a model known by name (ModelManager registers its configured models here). */
  registerModel(entry: ModelEntry): void {
    this.models.set(entry.name, entry);
  }

  /** The engines a request for `modelName` tries, in order. */
  candidates(modelName?: string): string[] {
    const pinned = modelName === undefined ? undefined : this.models.get(modelName)?.engine;
    const order = engineOrderOf(this.settings, (name) => this.options.engines?.[name] !== undefined);
    return pinned === undefined ? order : [...new Set([canonicalEngineName(pinned), ...order])];
  }

  /** Counters for monitoring: fallbacks, unavailable engines, requests per engine. */
  stats(): OptimizationStats {
    return structuredClone(this.counters);
  }

  /** The engine instance behind `name`, creating it if needed; undefined when unavailable. */
  async getEngine(name: string): Promise<Engine | undefined> {
    return (await this.acquire(canonicalEngineName(name))).engine;
  }

  /**
   * Loads a model on the first engine that can take it (following the same order and fallback as
   * requests) and returns what the engine reports.
   */
  async loadModel(modelName: string): Promise<LoadedModelInfo & { engineUsed: string }> {
    const spec = this.resolve(modelName);
    const { value, engineUsed } = await this.run(spec, undefined, async (engine, slot) => this.ensureLoaded(slot, engine, spec));
    return { ...value, engineUsed };
  }

  /** Unloads `modelName` from every engine that holds it, freeing its memory. */
  async unloadModel(modelName: string): Promise<void> {
    for (const slot of this.slots.values()) {
      const batcher = slot.batchers.get(modelName);
      slot.batchers.delete(modelName);
      if (batcher) await Promise.resolve(batcher).then((b) => b?.close?.()).catch(() => undefined);
      if (!slot.loaded.has(modelName)) continue;
      slot.loaded.delete(modelName);
      try {
        await slot.engine?.unload(modelName);
      } catch (error) {
        this.logger.warn(`Unloading model "${modelName}" from engine "${slot.name}" failed: ${messageOf(error)}`);
      }
    }
  }

  /**
   * The seed's `infer(model_name, inputs)`. Inputs with `prompt` or `messages` run text generation
   * (`outputs` is the GenerationResult); other inputs are a tensor map for raw tensor inference.
   */
  async infer(modelName: string, inputs: GenerationInputs): Promise<InferenceResult<GenerationResult>>;
  async infer(modelName: string, inputs: TensorMap, options?: { signal?: AbortSignal }): Promise<InferenceResult<TensorMap>>;
  async infer(modelName: string, inputs: GenerationInputs | TensorMap, options: { signal?: AbortSignal } = {}): Promise<InferenceResult<GenerationResult | TensorMap>> {
    const started = performance.now();
    if (isGenerationInputs(inputs)) {
      const result = await this.generate({ ...inputs, model: modelName });
      return { outputs: result, engineUsed: result.engineUsed, model: modelName, latencyMs: performance.now() - started };
    }
    if (typeof inputs !== 'object' || inputs === null) throw new InvalidRequestError('infer() needs { prompt } or { messages } for generation, or a map of input tensors.');
    const spec = this.resolve(modelName);
    const { value, engineUsed } = await this.run(spec, options.signal, async (engine, slot) => {
      await this.ensureLoaded(slot, engine, spec);
      return engine.infer(modelName, inputs as TensorMap, options.signal === undefined ? {} : { signal: options.signal });
    }, 'tensorInference', { operation: 'infer' });
    return { outputs: value, engineUsed, model: modelName, latencyMs: performance.now() - started };
  }

  /** Text generation with engine fallback; `result.engineUsed` names the engine that answered. */
  async generate(request: GenerationRequest): Promise<GenerationResult> {
    const modelName = request.model ?? 'default';
    const spec = this.resolve(modelName);
    const { value, engineUsed } = await this.run(spec, request.signal, async (engine, slot, span) => {
      await this.ensureLoaded(slot, engine, spec);
      const batcher = await this.batcherFor(slot, engine, modelName);
      const routed: GenerationRequest = { ...request, model: modelName };
      if (!batcher) return engine.generate(routed);
      const options: { signal?: AbortSignal; priority?: number } = {};
      if (request.signal) options.signal = request.signal;
      if (request.priority !== undefined) options.priority = request.priority;
      // The batch span parents under the engine span of the first request of its batch (see BatchSpans).
      this.batchSpans.remember(routed, span);
      const outcome = await batcher.submit(routed, options);
      if (outcome instanceof Error) throw outcome;
      return outcome;
    }, 'textGeneration', { operation: 'generate', onValue: (span, result) => this.recordUsage(span, result) });
    return { ...value, engineUsed, model: modelName };
  }

  /**
   * Streams a generation. Fallback applies until the first chunk arrives; after that an engine error
   * ends the stream with a coded error.
   */
  async *stream(request: GenerationRequest): AsyncIterable<EngineStreamChunk> {
    const modelName = request.model ?? 'default';
    const spec = this.resolve(modelName);
    const traced = this.tracer.enabled;
    const { value, engineUsed } = await this.run(spec, request.signal, async (engine, slot) => {
      await this.ensureLoaded(slot, engine, spec);
      const iterator = engine.stream({ ...request, model: modelName })[Symbol.asyncIterator]();
      const first = await iterator.next();
      // Traced: the rest of the stream is pulled from inside the engine span, which ends with the stream.
      let spanEnded: () => void = () => undefined;
      const ended = new Promise<void>((resolve) => (spanEnded = resolve));
      return { iterator, first, pump: traced && !first.done ? new StreamPump<StreamChunk>() : undefined, ended, spanEnded };
    }, 'streaming', {
      operation: 'stream',
      holdOpen: async ({ iterator, pump }) => {
        if (pump) await pump.run(iterator);
      },
      ended: ({ spanEnded }) => spanEnded(),
    });
    const source: Pick<AsyncIterator<StreamChunk>, 'next' | 'return'> = value.pump ?? value.iterator;
    let step = value.first;
    try {
      while (!step.done) {
        yield { ...step.value, engineUsed };
        step = await source.next();
      }
    } catch (error) {
      throw this.wrapEngineError(error, engineUsed, modelName);
    } finally {
      if (!step.done) await source.return?.();
      // The consumer sees the end of the stream once its engine span has ended.
      if (value.pump) await value.ended;
    }
  }

  /** Closes batchers and engines. */
  async close(): Promise<void> {
    const slots = [...this.slots.values()];
    this.slots.clear();
    for (const slot of slots) {
      for (const batcher of slot.batchers.values()) await Promise.resolve(batcher).then((b) => b?.close?.()).catch(() => undefined);
      await slot.engine?.close().catch((error: unknown) => this.logger.warn(`Closing engine "${slot.name}" failed: ${messageOf(error)}`));
    }
  }

  private resolve(modelName: string): ModelEntry {
    if (typeof modelName !== 'string' || modelName.length === 0) throw new InvalidRequestError('A model name is required. Pass a configured model name (models.<name> in system.yaml).');
    return this.models.get(modelName) ?? { name: modelName, path: modelName };
  }

  private slot(name: string): Slot {
    let slot = this.slots.get(name);
    if (!slot) {
      slot = { name, loaded: new Map(), batchers: new Map() };
      this.slots.set(name, slot);
    }
    return slot;
  }

  private async acquire(name: string): Promise<{ engine?: Engine; slot: Slot; fresh: boolean; reason?: string }> {
    const slot = this.slot(name);
    if (slot.engine) return { engine: slot.engine, slot, fresh: false };
    if (slot.unavailableReason !== undefined && slot.unavailableAt !== undefined) {
      const retryAfter = this.options.retryUnavailableAfterMs ?? 30_000;
      if (Date.now() - slot.unavailableAt < retryAfter) return { slot, fresh: false, reason: slot.unavailableReason };
    }
    let fresh = false;
    slot.creating ??= (async () => {
      try {
        const engine = await createEngine(name, this.settings, this.options);
        if (name !== 'onnx') {
          const health = await engine.health();
          if (!health.ok) {
            await engine.close().catch(() => undefined);
            fresh = this.markUnavailable(slot, 'unreachable', `its server is not healthy${health.detail ? ` (${health.detail})` : ''}`);
            return undefined;
          }
        }
        slot.engine = engine;
        delete slot.unavailableReason;
        delete slot.unavailableAt;
        delete this.counters.unavailable[name];
        return engine;
      } catch (error) {
        const notInstalled = error instanceof EngineUnavailableError && error.details.reason === 'not_installed';
        fresh = this.markUnavailable(slot, notInstalled ? 'not_installed' : 'unreachable', messageOf(error));
        return undefined;
      } finally {
        delete slot.creating;
      }
    })();
    const engine = await slot.creating;
    return engine ? { engine, slot, fresh: false } : { slot, fresh, reason: slot.unavailableReason ?? 'unavailable' };
  }

  /** Marks an engine unavailable; warns once per engine and reason. Returns true when this is news. */
  private markUnavailable(slot: Slot, reason: string, detail: string): boolean {
    const wasAvailable = slot.unavailableReason === undefined;
    slot.unavailableReason = reason;
    slot.unavailableAt = Date.now();
    this.counters.unavailable[slot.name] = reason;
    const key = `${slot.name}:${reason}`;
    if (!this.warned.has(key)) {
      this.warned.add(key);
      this.logger.warn(`Engine "${slot.name}" is unavailable (${reason}): ${detail} Falling back to the next engine in optimization.engine_preference.`, { engine: slot.name, reason });
    }
    return wasAvailable;
  }

  private ensureLoaded(slot: Slot, engine: Engine, spec: ModelEntry): Promise<LoadedModelInfo> {
    let loading = slot.loaded.get(spec.name);
    if (!loading) {
      loading = (async () => {
        const toLoad: ModelSpec = { ...spec };
        delete (toLoad as ModelEntry).engine;
        if (slot.name === 'onnx' && !this.options.engines?.onnx) {
          toLoad.path = await this.checkLocalFolder(spec);
        }
        return engine.load(toLoad);
      })();
      slot.loaded.set(spec.name, loading);
      loading.catch(() => slot.loaded.delete(spec.name));
    }
    return loading;
  }

  /** The embedded engine loads folders: a Hub id becomes its downloaded snapshot (@muai/hub); a folder that vanished is a clear MODEL_NOT_FOUND. */
  private async checkLocalFolder(spec: ModelEntry): Promise<string> {
    if (spec.path === '') {
      throw new ModelNotFoundError(spec.name, 'No folder is set for it. Set MUAI_MODEL (or models.default.path) to a model folder, or pass defaultModelPath (the muai CLI passes its bundled stories260K).');
    }
    const base = this.options.baseDirectory ?? process.cwd();
    const path = isAbsolute(spec.path) ? spec.path : resolve(base, spec.path);
    if (existsSync(path)) return path;
    if (!looksLocal(spec.path)) return resolveHubModel(spec, this.options.importModule ?? ((specifier: string) => import(specifier)));
    const hint = spec.name === 'default'
      ? 'Set MUAI_MODEL (or models.default.path) to a model folder, or restore the folder.'
      : `Check models.${spec.name}.path, or restore the folder.`;
    throw new ModelNotFoundError(spec.name, `Its folder ${path} does not exist. ${hint}`, { details: { path } });
  }

  private async batcherFor(slot: Slot, engine: Engine, modelName: string): Promise<BatcherLike<GenerationRequest, GenerationResult | Error> | undefined> {
    if (!this.settings.enabled || !this.settings.batcher.enabled || !engine.capabilities.batching) return undefined;
    let entry = slot.batchers.get(modelName);
    if (!entry) {
      const { enabled: _enabled, max_batch_size: _a, batch_timeout_ms: _b, max_queue_size: _c, ...rest } = this.settings.batcher.raw;
      const options: BatcherFactoryOptions = {
        ...camelCaseKeys(rest),
        batchFn: (inputs) => this.batchSpans.dispatch(engine, slot.name, modelName, inputs),
        maxBatchSize: this.settings.batcher.maxBatchSize,
        batchTimeoutMs: this.settings.batcher.batchTimeoutMs,
        maxQueueSize: this.settings.batcher.maxQueueSize,
      };
      entry = (async () => {
        try {
          if (this.options.batcherFactory) return await this.options.batcherFactory(options);
          const load = this.options.importModule ?? ((specifier: string) => import(specifier));
          const module = (await load('@muai/batcher')) as Record<string, unknown>;
          if (typeof module.createBatcher !== 'function') throw new Error('@muai/batcher does not export createBatcher()');
          return (await (module.createBatcher as BatcherFactory)(options)) as BatcherLike<GenerationRequest, GenerationResult | Error>;
        } catch (error) {
          const key = 'batcher:unavailable';
          if (!this.warned.has(key)) {
            this.warned.add(key);
            this.logger.warn(`Batching is enabled but the batcher could not be created (${messageOf(error)}); requests run unbatched. Install @muai/batcher or set optimization.batcher.enabled to false.`);
          }
          return undefined;
        }
      })();
      slot.batchers.set(modelName, entry);
    }
    return entry;
  }

  private recordFallback(record: FallbackRecord): void {
    this.counters.fallbacks += 1;
    this.counters.fallbacksByEngine[record.from] = (this.counters.fallbacksByEngine[record.from] ?? 0) + 1;
    this.metrics.recordFallback(record);
    const listener = this.options.onFallback;
    if (listener) safely(this.logger, this.warned, 'onFallback', () => listener(record));
  }

  private wrapEngineError(error: unknown, engine: string, model: string): MuaiError {
    if (MuaiError.isInstance(error)) return error;
    return new MuaiError('ENGINE_ERROR', `Engine "${engine}" failed while serving model "${model}": ${messageOf(error)}. Retry; if it persists check the engine, or set optimization.fallback_on_error to true to try the next engine.`, { cause: error, details: { engine, model } });
  }

  /** Runs `operation` on the first engine that can serve it, with the fallback rules above. */
  private async run<T>(
    spec: ModelEntry,
    signal: AbortSignal | undefined,
    operation: (engine: Engine, slot: Slot, span: Span) => Promise<T>,
    capability?: 'textGeneration' | 'streaming' | 'tensorInference',
    trace?: TraceSpec<T>,
  ): Promise<{ value: T; engineUsed: string }> {
    const candidates = this.candidates(spec.name);
    const attempts: Attempt[] = [];
    let lastError: MuaiError | undefined;
    let calls = 0;
    for (let index = 0; index < candidates.length; index += 1) {
      throwIfAborted(signal);
      const name = candidates[index] as string;
      const next = candidates[index + 1] ?? 'none';
      const acquired = await this.acquire(name);
      if (!acquired.engine) {
        if (acquired.fresh) this.recordFallback({ from: name, to: next, reason: acquired.reason ?? 'unavailable', model: spec.name });
        attempts.push({ engine: name, code: 'ENGINE_UNAVAILABLE', message: `unavailable (${acquired.reason ?? 'unknown'})` });
        continue;
      }
      if (capability && !acquired.engine.capabilities[capability]) {
        attempts.push({ engine: name, code: 'CAPABILITY_UNSUPPORTED', message: `does not support ${capability}` });
        continue;
      }
      try {
        const engine = acquired.engine;
        calls += 1;
        const value = trace
          ? await traceEngineAttempt(this.tracer, {
              engine: name,
              model: spec.name,
              attempt: calls,
              trace,
              body: (span) => operation(engine, acquired.slot, span),
              fallback: (error) => {
                const reason = this.fallbackReason(error, name, spec.name, index === candidates.length - 1, signal);
                return reason === undefined ? undefined : { reason, to: next };
              },
              guard: (what, fn) => safely(this.logger, this.warned, what, fn),
            })
          : await operation(engine, acquired.slot, NOOP_SPAN);
        this.counters.requestsByEngine[name] = (this.counters.requestsByEngine[name] ?? 0) + 1;
        return { value, engineUsed: name };
      } catch (error) {
        if (signal?.aborted) throwIfAborted(signal);
        if (isRequestError(error)) throw error;
        const wrapped = this.wrapEngineError(error, name, spec.name);
        lastError = wrapped;
        attempts.push({ engine: name, code: wrapped.code, message: wrapped.message });
        const unhealthy = remoteFailureReason(wrapped, name);
        if (unhealthy !== undefined) {
          // The server went away or never answered: skip it for a while, like a missing package, and
          // try the next engine whatever fallback_on_error says (nothing reached the client yet).
          if (acquired.slot.engine === acquired.engine) {
            delete acquired.slot.engine;
            acquired.slot.loaded.clear();
            acquired.slot.batchers.clear();
          }
          await acquired.engine.close().catch(() => undefined);
          const detail = unhealthy === 'timeout' ? `${String(wrapped.details.endpoint)} accepted the request and did not answer within optimization.${name}.timeout_ms (${String(wrapped.details.timeoutMs)} ms).` : wrapped.message;
          if (this.markUnavailable(acquired.slot, unhealthy, detail)) this.recordFallback({ from: name, to: next, reason: unhealthy, model: spec.name });
          continue;
        }
        if (!this.settings.fallbackOnError || index === candidates.length - 1) throw wrapped;
        this.recordFallback({ from: name, to: next, reason: wrapped.code, model: spec.name });
        this.logger.warn(`Engine "${name}" failed for model "${spec.name}" (${wrapped.code}); retrying on "${next}" (fallback_on_error).`, { engine: name, code: wrapped.code });
      }
    }
    if (attempts.length === 1 && lastError) throw lastError;
    const summary = attempts.map((attempt) => `${attempt.engine}: ${attempt.message}`).join('; ');
    throw new MuaiError(lastError?.code ?? 'ENGINE_UNAVAILABLE', `No engine could serve model "${spec.name}" (${summary}). Enable an installed engine in optimization.engine_preference, or fix the errors above.`, { cause: lastError, details: { model: spec.name, attempts } });
  }

  /** The reason `run` falls back after `error` on engine `name`, or undefined when the error ends the request. */
  private fallbackReason(error: unknown, name: string, model: string, last: boolean, signal: AbortSignal | undefined): string | undefined {
    if (signal?.aborted || isRequestError(error)) return undefined;
    const wrapped = this.wrapEngineError(error, name, model);
    const unhealthy = remoteFailureReason(wrapped, name);
    if (unhealthy !== undefined) return unhealthy;
    return !this.settings.fallbackOnError || last ? undefined : wrapped.code;
  }

  /** Token usage of a generation on its engine span (GenAI attribute names). */
  private recordUsage(span: Span, result: GenerationResult): void {
    this.tracer.recordUsage(span, { inputTokens: result.usage.promptTokens, outputTokens: result.usage.completionTokens, finishReasons: [result.finishReason] });
  }


}
