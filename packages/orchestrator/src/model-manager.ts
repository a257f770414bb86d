import { InvalidRequestError, ModelNotFoundError } from '@muai/core';
import { defaultModelPath as bundledDefaultModelPath } from '@muai/models';
import type { Engine, GenerationRequest, GenerationResult, LoadedModelInfo, TensorMap, TracerInput } from '@muai/core';
import { LruKeys } from './internal/lru.js';
import { consoleLogger } from './internal/logger.js';
import type { Logger } from './internal/logger.js';
import { OptimizationManager } from './optimization-manager.js';
import type { EngineStreamChunk, GenerationInputs, ModelEntry } from './optimization-manager.js';

/** One `models.<name>` entry of system.yaml. */
export type ModelConfigInput = {
  path: string;
  device?: string | undefined;
  load_in_8bit?: boolean | undefined;
  /** Engine to serve this model with (`onnx`/`pytorch`, `vllm`, `deepspeed`). */
  engine?: string | undefined;
  dtype?: string | undefined;
  [key: string]: unknown;
};

/** The parts of a loaded config the ModelManager reads; a @muai/config `MuaiConfig` fits. */
export type ModelManagerConfigInput = {
  models?: Record<string, ModelConfigInput> | undefined;
  monitoring?: { server?: { preload_models?: readonly string[] | undefined; [key: string]: unknown } | undefined; [key: string]: unknown } | undefined;
  [key: string]: unknown;
};

export interface ModelManagerOptions {
  /** A loaded config (or just `{ models }`). Default: no models configured, only `default`. */
  config?: ModelManagerConfigInput;
  /** Serve through this manager (engine preference, fallback, batching). Default: the embedded engine only. */
  optimizationManager?: OptimizationManager;
  /** Replaces the embedded engine (used when there is no optimizationManager). */
  engine?: Engine | (() => Engine | Promise<Engine>);
  /** Models kept loaded at once; the least recently used is unloaded beyond it. Default 3. */
  maxLoadedModels?: number;
  /** Model used when a request names none. Default `default` (MUAI_MODEL, else `defaultModelPath`). */
  defaultModel?: string;
  /**
   * Folder of the `default` model when MUAI_MODEL is unset. Default: the model bundled with
   * @muai/models (stories260K), found from that installed package, never from the cwd.
   */
  defaultModelPath?: string;
  /** Models loaded by `start()`. Default `monitoring.server.preload_models` from the config, else none. */
  preloadModels?: readonly string[];
  logger?: Logger;
  /** Environment (for `MUAI_MODEL`). Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Folder relative model paths are resolved against. Default: the current directory. */
  baseDirectory?: string;
  /**
   * Traces engine calls and batches (see OptimizationManagerOptions.tracer). Passed to the
   * OptimizationManager this manager creates; a given `optimizationManager` keeps its own tracer.
   */
  tracer?: TracerInput;
}

/** A loaded model, as `loadModel` returns it. */
export interface LoadedModel {
  name: string;
  path: string;
  /** The engine holding it. */
  engineUsed: string;
  info: LoadedModelInfo;
}

/**
 * Loads models on demand and keeps at most `maxLoadedModels` of them (LRU; evicting unloads the model
 * from its engine, freeing its memory). `new ModelManager()` needs nothing: it serves the default model
 * with the embedded engine. With an `optimizationManager` every call goes through it.
 */
export class ModelManager {
  readonly optimizationManager: OptimizationManager;
  readonly defaultModel: string;
  private readonly entries = new Map<string, ModelEntry>();
  private readonly lru: LruKeys<string>;
  private readonly loading = new Map<string, Promise<LoadedModel>>();
  private readonly loadedModels = new Map<string, LoadedModel>();
  private readonly preloadList: readonly string[];
  private readonly logger: Logger;

  constructor(options: ModelManagerOptions = {}) {
    this.logger = options.logger ?? consoleLogger;
    const env = options.env ?? process.env;
    const engine = options.engine;
    this.optimizationManager =
      options.optimizationManager ??
      new OptimizationManager(undefined, {
        logger: this.logger,
        env,
        ...(engine === undefined ? {} : { engines: { onnx: () => (typeof engine === 'function' ? engine() : engine) } }),
        ...(options.baseDirectory === undefined ? {} : { baseDirectory: options.baseDirectory }),
        ...(options.tracer === undefined ? {} : { tracer: options.tracer }),
      });
    const configured = options.config?.models ?? {};
    for (const [name, model] of Object.entries(configured)) {
      const entry: ModelEntry = { name, path: model.path };
      if (model.device !== undefined && model.device !== 'auto') entry.device = model.device;
      if (model.load_in_8bit !== undefined) entry.loadIn8bit = model.load_in_8bit;
      if (model.dtype !== undefined && model.dtype !== 'auto') entry.dtype = model.dtype;
      if (model.engine !== undefined) entry.engine = model.engine;
      const engineOptions: Record<string, unknown> = {};
      if (typeof model.max_context_length === 'number') engineOptions.contextLength = model.max_context_length;
      if (typeof model.served_name === 'string') engineOptions.servedName = model.served_name;
      if (Object.keys(engineOptions).length > 0) entry.options = engineOptions;
      this.entries.set(name, entry);
    }
    if (!this.entries.has('default')) {
      const fromEnv = env.MUAI_MODEL;
      this.entries.set('default', { name: 'default', path: fromEnv !== undefined && fromEnv !== '' && !configured[fromEnv] ? fromEnv : (options.defaultModelPath ?? bundledDefaultModelPath()) });
    }
    for (const entry of this.entries.values()) this.optimizationManager.registerModel(entry);
    const envModel = env.MUAI_MODEL;
    this.defaultModel = options.defaultModel ?? (envModel !== undefined && configured[envModel] ? envModel : 'default');
    this.lru = new LruKeys(options.maxLoadedModels ?? 3);
    this.preloadList = options.preloadModels ?? options.config?.monitoring?.server?.preload_models ?? [];
  }

  /** Names of the models this manager can serve (configured ones plus `default`). */
  modelNames(): string[] {
    return [...this.entries.keys()];
  }

  /** Names of the models loaded now, least recently used first. */
  loaded(): string[] {
    return this.lru.keys();
  }

  /** Loads the models of `monitoring.server.preload_models` (or `preloadModels`). */
  async start(): Promise<void> {
    await this.preload();
  }

  /** Loads `names` (default: the preload list), in order. */
  async preload(names: readonly string[] = this.preloadList): Promise<LoadedModel[]> {
    if (names.length > this.lru.capacity) {
      this.logger.warn(`preload_models lists ${names.length} models but only ${this.lru.capacity} stay loaded; raise maxLoadedModels or shorten the list.`);
    }
    const loaded: LoadedModel[] = [];
    for (const name of names) loaded.push(await this.loadModel(name));
    return loaded;
  }

  /** Loads `modelName` if needed and marks it most recently used. */
  async loadModel(modelName: string = this.defaultModel): Promise<LoadedModel> {
    const entry = this.entry(modelName);
    await this.touch(entry.name);
    const existing = this.loadedModels.get(entry.name);
    if (existing) return existing;
    let pending = this.loading.get(entry.name);
    if (!pending) {
      pending = (async () => {
        const info = await this.optimizationManager.loadModel(entry.name);
        const { engineUsed, ...rest } = info;
        const model: LoadedModel = { name: entry.name, path: entry.path, engineUsed, info: rest };
        if (this.lru.has(entry.name)) this.loadedModels.set(entry.name, model);
        return model;
      })();
      this.loading.set(entry.name, pending);
      pending.then(
        () => this.loading.delete(entry.name),
        () => {
          this.loading.delete(entry.name);
          this.lru.delete(entry.name);
        },
      );
    }
    return pending;
  }

  /** Unloads `modelName` from every engine, freeing its memory. */
  async unloadModel(modelName: string): Promise<void> {
    this.lru.delete(modelName);
    this.loadedModels.delete(modelName);
    await this.optimizationManager.unloadModel(modelName);
  }

  /**
   * The seed's `infer(model_name, inputs)`: returns the outputs. `{ prompt }` or `{ messages }` run text
   * generation (the outputs are a GenerationResult with `text` and `engineUsed`); a tensor map runs raw
   * tensor inference.
   */
  async infer(modelName: string, inputs: GenerationInputs): Promise<GenerationResult>;
  async infer(modelName: string, inputs: TensorMap): Promise<TensorMap>;
  async infer(modelName: string, inputs: GenerationInputs | TensorMap): Promise<GenerationResult | TensorMap> {
    await this.loadModel(modelName);
    const result = await this.optimizationManager.infer(modelName, inputs as TensorMap);
    return result.outputs;
  }

  /** Text generation on `request.model` (default: the default model). */
  async generate(request: GenerationRequest): Promise<GenerationResult> {
    const model = request.model ?? this.defaultModel;
    await this.loadModel(model);
    return this.optimizationManager.generate({ ...request, model });
  }

  /** Streams a generation on `request.model` (default: the default model). */
  async *stream(request: GenerationRequest): AsyncIterable<EngineStreamChunk> {
    const model = request.model ?? this.defaultModel;
    await this.loadModel(model);
    yield* this.optimizationManager.stream({ ...request, model });
  }

  /** Unloads every model and closes the engines this manager created. */
  async close(): Promise<void> {
    for (const name of this.lru.keys()) await this.unloadModel(name);
    await this.optimizationManager.close();
  }

  private entry(modelName: string): ModelEntry {
    if (typeof modelName !== 'string' || modelName.trim() === '') {
      throw new InvalidRequestError('A model name must be a non-empty string.');
    }
    const entry = this.entries.get(modelName);
    if (!entry) {
      throw new ModelNotFoundError(modelName, `Configured models: ${this.modelNames().join(', ')}. Add it under models.${modelName} in system.yaml, or use one of those.`, {
        details: { configured: this.modelNames() },
      });
    }
    return entry;
  }

  private async touch(name: string): Promise<void> {
    const evicted = this.lru.touch(name);
    for (const old of evicted) {
      this.loadedModels.delete(old);
      await this.optimizationManager.unloadModel(old);
    }
  }
}
