import * as ort from 'onnxruntime-node';
import { CapabilityUnsupportedError, ConfigInvalidError, InvalidRequestError, MuaiError, ModelNotFoundError, throwIfAborted, toMuaiError } from '@muai/core';
import type { ConfigProblem } from '@muai/core';
import type {
  Engine,
  EngineCapabilities,
  EngineHealth,
  FinishReason,
  GenerationRequest,
  GenerationResult,
  InferOptions,
  LoadedModelInfo,
  ModelSpec,
  StreamChunk,
  TensorMap,
} from '@muai/core';
import { createKvCache } from '@muai/kv-cache';
import type { KvCache, KvCacheStats } from '@muai/kv-cache';
import { SequenceState } from './internal/decoder.js';
import { youngGc } from './internal/young-gc.js';
import { BatchScheduler, supportsChunkedPrefill } from './internal/scheduler.js';
import type { ScheduledEntry, SchedulerStats } from './internal/scheduler.js';
import type { CausalLm } from './internal/decoder.js';
import { looksLikeDecoder } from './internal/lm-layout.js';
import { resolveModelFolder } from './internal/model-files.js';
import { Sampler } from './internal/sampler.js';
import { fromOrtTensor, toOrtFeeds } from './internal/tensors.js';
import { TextAssembler } from './internal/text-assembler.js';
import { ChunkQueue } from './internal/chunk-queue.js';
import { checkedPromptIds, promptIds, validateSampling } from './internal/request-validation.js';
import { declaresCausalLm, graphBytes, positiveInteger, readCausalLm } from './internal/model-loader.js';
import type { OnnxEngineOptions, OnnxKvCacheOptions, OnnxModelOptions } from './options.js';

interface TensorModel {
  kind: 'tensor';
  name: string;
  graphPath: string;
  session: ort.InferenceSession;
}

type LoadedModel = ({ kind: 'causal-lm'; scheduler: BatchScheduler; kvCache: KvCache | undefined } & CausalLm) | TensorModel;

/** The last chunk of a request: the held-back tail text, and its finish reason, usage and timings. */
type FinalChunk = StreamChunk & Required<Pick<StreamChunk, 'finishReason' | 'usage' | 'timings'>>;

/**
 * The embedded MuAI engine: onnxruntime-node in process, for decoder language models in the
 * Hugging Face Optimum / transformers.js folder layout and plain ONNX models (raw tensors).
 */
export class OnnxEngine implements Engine {
  readonly specificationVersion = 'v1' as const;
  readonly name = 'onnx';
  readonly capabilities: EngineCapabilities = Object.freeze({
    textGeneration: true,
    streaming: true,
    batching: true,
    embeddings: false,
    tensorInference: true,
  });
  readonly options: Readonly<Required<Omit<OnnxEngineOptions, 'kvCache'>>> & { readonly kvCache: Readonly<OnnxKvCacheOptions> | undefined };
  private readonly loaded = new Map<string, LoadedModel>();
  private closed = false;

  constructor(options: OnnxEngineOptions = {}) {
    const defaultMaxTokens = options.defaultMaxTokens ?? 128;
    const maxBatchSize = options.maxBatchSize ?? 16;
    const maxBatchTokens = options.maxBatchTokens ?? 65536;
    const kvCache = options.kvCache;
    // Every problem at once, as @muai/config reports them.
    const problems: ConfigProblem[] = [];
    for (const [path, value] of [['defaultMaxTokens', defaultMaxTokens], ['maxBatchSize', maxBatchSize], ['maxBatchTokens', maxBatchTokens]] as const) {
      if (!Number.isInteger(value) || value < 1) problems.push({ path, value, expected: `${path} must be a positive integer` });
    }
    if (kvCache !== undefined && (typeof kvCache !== 'object' || kvCache === null)) problems.push({ path: 'kvCache', value: kvCache, expected: 'kvCache must be an object such as { maxMemoryMb: 512 }' });
    if (problems.length > 0) throw new ConfigInvalidError(problems);
    this.options = Object.freeze({
      maxBatchSize,
      maxBatchTokens,
      kvCache: kvCache === undefined || kvCache.enabled === false ? undefined : Object.freeze({ ...kvCache }),
      intraOpNumThreads: options.intraOpNumThreads ?? 0,
      interOpNumThreads: options.interOpNumThreads ?? 0,
      allowSpinning: options.allowSpinning ?? false,
      scavengeEachStep: options.scavengeEachStep ?? true,
      graphOptimizationLevel: options.graphOptimizationLevel ?? 'all',
      executionProviders: Object.freeze([...(options.executionProviders ?? ['cpu'])]),
      defaultMaxTokens,
      logSeverityLevel: options.logSeverityLevel ?? 3,
    });
  }

  models(): readonly string[] {
    return [...this.loaded.keys()];
  }

  async health(): Promise<EngineHealth> {
    return this.closed ? { ok: false, detail: 'engine closed', models: [] } : { ok: true, models: this.models() };
  }

  async load(spec: ModelSpec): Promise<LoadedModelInfo> {
    if (this.closed) throw new MuaiError('ENGINE_UNAVAILABLE', 'This ONNX engine was closed. Create a new one with createOnnxEngine().');
    if (typeof spec?.name !== 'string' || spec.name === '' || typeof spec.path !== 'string' || spec.path === '') {
      throw new InvalidRequestError('A model spec needs a non-empty `name` and `path` (the model folder or .onnx file).');
    }
    const modelOptions = (spec.options ?? {}) as OnnxModelOptions;
    const folder = resolveModelFolder(spec.name, spec.path, spec.dtype, spec.loadIn8bit === true);
    const session = await this.createSession(spec, folder.graphPath, modelOptions);
    try {
      const kind = modelOptions.kind ?? 'auto';
      const causal = kind === 'causal-lm' || (kind === 'auto' && (declaresCausalLm(folder.config) || looksLikeDecoder(session)));
      if (!causal) {
        await this.replace(spec.name, { kind: 'tensor', name: spec.name, graphPath: folder.graphPath, session });
        return { name: spec.name, kind: 'tensor', memoryBytes: graphBytes(folder.graphPath) };
      }
      const model = readCausalLm(spec.name, folder, session, modelOptions);
      // Prefix reuse prefills only the rest of a prompt over the cached past: graphs that cannot do that run without the cache.
      const kvCache = this.options.kvCache !== undefined && (await supportsChunkedPrefill(model)) ? this.createCache(model.layout) : undefined;
      const scheduler = new BatchScheduler(model, {
        maxBatchSize: positiveInteger(modelOptions.maxBatchSize) ?? this.options.maxBatchSize,
        maxBatchTokens: positiveInteger(modelOptions.maxBatchTokens) ?? this.options.maxBatchTokens,
        raggedBatching: modelOptions.raggedBatching !== false,
        kvCache,
        ...afterStepOf(modelOptions.scavengeEachStep ?? this.options.scavengeEachStep),
      });
      await this.replace(spec.name, { kind: 'causal-lm', ...model, scheduler, kvCache });
      return { name: spec.name, kind: 'causal-lm', contextLength: model.contextLength, chatTemplate: model.tokenizer.hasChatTemplate, memoryBytes: graphBytes(folder.graphPath) };
    } catch (error) {
      await session.release().catch(() => undefined);
      throw toMuaiError(error, 'MODEL_LOAD_FAILED');
    }
  }

  async unload(modelName: string): Promise<void> {
    const model = this.loaded.get(modelName);
    if (model === undefined) return;
    this.loaded.delete(modelName);
    if (model.kind === 'causal-lm') model.scheduler.close();
    await model.session.release();
  }

  async close(): Promise<void> {
    this.closed = true;
    const names = [...this.loaded.keys()];
    await Promise.all(names.map((name) => this.unload(name)));
  }

  /** Prefix cache counters of a language model (hits, misses, bytes, evictions); undefined when the cache is off. */
  cacheStats(modelName?: string): KvCacheStats | undefined {
    return this.loadedLm(modelName).kvCache?.stats();
  }

  /** Continuous batching counters of a language model (running, waiting, steps, rebuilds). */
  batchStats(modelName?: string): SchedulerStats {
    return this.loadedLm(modelName).scheduler.stats();
  }

  /**
   * Changes the continuous-batching limits of loaded language models (one, or all when
   * `modelName` is absent) between decode steps; running sequences are never dropped. Models loaded
   * later use the engine's options. Returns the names of the models changed.
   */
  setLimits(limits: { maxBatchSize?: number; maxBatchTokens?: number }, modelName?: string): string[] {
    const targets = modelName !== undefined ? [this.loadedLm(modelName)] : [...this.loaded.values()].filter((model) => model.kind === 'causal-lm');
    for (const model of targets) model.scheduler.setLimits(limits);
    return targets.map((model) => model.name);
  }

  private loadedLm(modelName: string | undefined): Extract<LoadedModel, { kind: 'causal-lm' }> {
    return this.languageModel(modelName) as Extract<LoadedModel, { kind: 'causal-lm' }>;
  }

  private createCache(layout: CausalLm['layout']): KvCache | undefined {
    const options = this.options.kvCache;
    if (options === undefined) return undefined;
    const mb = options.maxMemoryMb ?? 512;
    return createKvCache({
      numLayers: layout.numLayers,
      numKvHeads: layout.kvHeads,
      headDim: layout.headDim,
      elementType: layout.kvType,
      maxMemoryBytes: options.maxMemoryBytes ?? Math.floor(mb * 1024 * 1024),
      ...(options.blockSize !== undefined ? { blockSize: options.blockSize } : {}),
      ...(options.prefixReuse !== undefined ? { enabled: options.prefixReuse } : {}),
    });
  }

  /** Information about a loaded language model (context, eos ids, chosen graph), for tools and tests. */
  describeModel(modelName: string): {
    kind: 'causal-lm' | 'tensor';
    graphPath: string;
    dtype?: string;
    contextLength?: number;
    vocabSize?: number;
    eosTokenIds?: readonly number[];
    hasChatTemplate?: boolean;
    /** True when this model reuses cached prefixes (kvCache given and the graph can prefill over a past). */
    prefixCache?: boolean;
  } {
    const model = this.loaded.get(modelName);
    if (model === undefined) throw new ModelNotFoundError(modelName, `Load it first with engine.load({ name: '${modelName}', path }).`);
    if (model.kind === 'tensor') return { kind: 'tensor', graphPath: model.graphPath };
    return {
      kind: 'causal-lm',
      graphPath: model.graphPath,
      dtype: model.dtype,
      contextLength: model.contextLength,
      vocabSize: model.vocabSize,
      eosTokenIds: model.eosTokenIds,
      hasChatTemplate: model.tokenizer.hasChatTemplate,
      prefixCache: model.kvCache !== undefined,
    };
  }

  /** Token ids the engine would feed for a request's prompt or messages (tokenizer + chat template). */
  encodeRequest(request: Pick<GenerationRequest, 'model' | 'prompt' | 'messages'>): number[] {
    return promptIds(this.languageModel(request.model), request);
  }

  async infer(modelName: string, inputs: TensorMap, options: InferOptions = {}): Promise<TensorMap> {
    const model = this.loaded.get(modelName);
    if (model === undefined) throw new ModelNotFoundError(modelName, `Load it first with engine.load({ name: '${modelName}', path }). Loaded: ${this.models().join(', ') || 'none'}.`);
    const feeds = toOrtFeeds(model.session, inputs, modelName);
    if (options.signal?.aborted) throw new MuaiError('REQUEST_ABORTED', 'The request was cancelled by its caller.', { cause: options.signal.reason });
    let outputs: ort.InferenceSession.OnnxValueMapType;
    try {
      outputs = await model.session.run(feeds);
    } catch (error) {
      throw new MuaiError('ENGINE_ERROR', `ONNX Runtime failed while running model "${modelName}": ${(error as Error).message}`, { cause: error, details: { model: modelName } });
    }
    const result: TensorMap = {};
    for (const [name, value] of Object.entries(outputs)) result[name] = fromOrtTensor(value);
    return result;
  }

  /**
   * One request to completion. Same tokens, text and finish reasons as `stream()`, but without a
   * chunk per token: the caller waits on one promise while the batch decodes (fewer promises per
   * step for the decode loop, which matters when a tracer's async hooks tax every promise).
   */
  async generate(request: GenerationRequest): Promise<GenerationResult> {
    const tokenIds: number[] = [];
    const signal = request.signal;
    let text = '';
    let delivered = 0;
    let settle: (outcome: 'end' | 'abort' | Error) => void = () => undefined;
    let settled = false;
    const outcome = new Promise<'end' | 'abort' | Error>((resolve) => {
      settle = (value) => {
        if (settled) return;
        settled = true;
        resolve(value);
      };
    });
    const running = this.begin(request, tokenIds, (item) => {
      if (settled) return; // after an abort: dropped, as a stream consumer would not read it
      if (item === 'end' || item instanceof Error) settle(item);
      else {
        text += item.text;
        delivered++;
      }
    });
    const onAbort = (): void => settle('abort');
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) settle('abort');
    let ended: 'end' | 'abort' | Error;
    try {
      ended = await outcome;
    } finally {
      running.giveUp();
      signal?.removeEventListener('abort', onAbort);
    }
    if (ended === 'abort' || (ended instanceof Error && signal?.aborted)) running.state.finishReason = 'abort';
    else if (ended instanceof Error) throw ended;
    const last = running.finish(delivered);
    return {
      text: text + last.text,
      finishReason: last.finishReason,
      usage: last.usage,
      timings: last.timings,
      engineUsed: this.name,
      model: running.model.name,
      tokenIds,
    };
  }

  stream(request: GenerationRequest): AsyncIterable<StreamChunk> {
    return this.run(request, []);
  }

  async generateBatch(requests: readonly GenerationRequest[]): Promise<Array<GenerationResult | Error>> {
    // Concurrently: the scheduler of each model runs them in one continuous batch.
    return Promise.all(requests.map((request) => this.generate(request).catch((error: unknown) => toMuaiError(error))));
  }

  private async createSession(spec: ModelSpec, graphPath: string, modelOptions: OnnxModelOptions): Promise<ort.InferenceSession> {
    const providers = [...(modelOptions.executionProviders ?? this.options.executionProviders)];
    if (spec.device !== undefined && spec.device !== 'cpu' && !providers.includes(spec.device)) providers.unshift(spec.device);
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      executionProviders: providers,
      graphOptimizationLevel: modelOptions.graphOptimizationLevel ?? this.options.graphOptimizationLevel,
      logSeverityLevel: modelOptions.logSeverityLevel ?? this.options.logSeverityLevel,
    };
    const intra = modelOptions.intraOpNumThreads ?? this.options.intraOpNumThreads;
    const inter = modelOptions.interOpNumThreads ?? this.options.interOpNumThreads;
    if (intra > 0) sessionOptions.intraOpNumThreads = intra;
    if (inter > 0) sessionOptions.interOpNumThreads = inter;
    // onnxruntime-node passes `extra` entries as session config entries (flattened with dots).
    const spinning = (modelOptions.allowSpinning ?? this.options.allowSpinning) ? '1' : '0';
    sessionOptions.extra = { session: { intra_op: { allow_spinning: spinning }, inter_op: { allow_spinning: spinning } } };
    try {
      // From a file path, so that external data files next to the graph resolve.
      return await ort.InferenceSession.create(graphPath, sessionOptions);
    } catch (error) {
      throw new MuaiError(
        'MODEL_LOAD_FAILED',
        `ONNX Runtime could not load ${graphPath}: ${(error as Error).message}. Check that the file is a complete ONNX export (with its external data file beside it) and that the execution providers ${providers.join(', ')} are available.`,
        { cause: error, details: { model: spec.name, graph: graphPath } },
      );
    }
  }

  private async replace(name: string, model: LoadedModel): Promise<void> {
    await this.unload(name);
    this.loaded.set(name, model);
  }

  private languageModel(name: string | undefined): CausalLm {
    if (name === undefined) {
      const lms = [...this.loaded.values()].filter((model) => model.kind === 'causal-lm');
      if (lms.length === 1) return lms[0] as CausalLm;
      if (lms.length === 0) throw new ModelNotFoundError('(none)', 'No language model is loaded. Call engine.load({ name, path }) first.');
      throw new InvalidRequestError(`Several language models are loaded (${lms.map((model) => model.name).join(', ')}); set request.model.`);
    }
    const model = this.loaded.get(name);
    if (model === undefined) throw new ModelNotFoundError(name, `Load it first with engine.load({ name: '${name}', path }). Loaded: ${this.models().join(', ') || 'none'}.`);
    if (model.kind !== 'causal-lm') throw new CapabilityUnsupportedError(this.name, `text generation with model "${name}" (a plain tensor model; use infer())`);
    return model;
  }

  private prepare(request: GenerationRequest): { model: CausalLm; sequence: SequenceState } {
    if (typeof request !== 'object' || request === null) throw new InvalidRequestError('A generation request must be an object.');
    if (this.closed) throw new MuaiError('ENGINE_UNAVAILABLE', 'This ONNX engine was closed. Create a new one with createOnnxEngine().');
    const model = this.languageModel(request.model);
    validateSampling(request, model);
    const promptIds = checkedPromptIds(model, request);
    const defaults = model.samplingDefaults;
    const sampler = new Sampler(
      {
        temperature: request.temperature ?? defaults.temperature,
        topK: request.topK ?? defaults.topK,
        topP: request.topP ?? defaults.topP,
        minP: request.minP ?? defaults.minP,
        repetitionPenalty: request.repetitionPenalty ?? defaults.repetitionPenalty,
        seed: request.seed,
      },
      model.vocabSize,
    );
    const maxTokens = Math.min(request.maxTokens ?? this.options.defaultMaxTokens, model.contextLength - promptIds.length);
    const assembler = new TextAssembler((ids) => model.tokenizer.decode(ids), request.stop ?? []);
    const stopIds = new Set([...(request.ignoreEos === true ? [] : model.eosTokenIds), ...(request.stopTokenIds ?? [])]);
    return { model, sequence: new SequenceState(promptIds, maxTokens, sampler, assembler, stopIds) };
  }

  /** One request through its model's continuous batch, as stream chunks; the last chunk carries finishReason, usage, timings. */
  private async *run(request: GenerationRequest, tokenIds: number[]): AsyncGenerator<StreamChunk> {
    const signal = request.signal;
    const queue = new ChunkQueue(signal);
    const running = this.begin(request, tokenIds, (item) => queue.push(item));
    let delivered = 0;
    try {
      while (running.state.finishReason !== 'abort') {
        const item = await queue.next();
        if (item === 'end') break;
        if (item === 'abort') {
          running.state.finishReason = 'abort';
          break;
        }
        if (item instanceof Error) {
          if (signal?.aborted) {
            running.state.finishReason = 'abort';
            break;
          }
          throw item;
        }
        delivered++;
        yield item;
      }
    } finally {
      // The row leaves at the next step boundary (abort, consumer stopped early, or done).
      running.giveUp();
      queue.dispose();
    }
    yield running.finish(delivered);
  }

  /**
   * Prepares a request and submits it to its model's continuous batch. `push` receives each text
   * chunk as its token is picked, then `'end'` or the error. `finish(delivered)` settles the
   * request once the caller is done reading and returns the last chunk (the held-back tail text,
   * finishReason, usage, timings); `delivered` is how many chunks the caller took, which is what an
   * aborted request reports.
   */
  private begin(
    request: GenerationRequest,
    tokenIds: number[],
    push: (item: StreamChunk | 'end' | MuaiError) => void,
  ): { model: CausalLm; state: { finishReason: FinishReason | undefined }; giveUp(): void; finish(delivered: number): FinalChunk } {
    // Cancelled before it arrived: nothing runs (the contract in @muai/core's GenerationRequest.signal).
    throwIfAborted(request.signal);
    const start = performance.now();
    const { model, sequence } = this.prepare(request);
    const scheduler = (this.loaded.get(model.name) as Extract<LoadedModel, { kind: 'causal-lm' }>).scheduler;
    const signal = request.signal;
    const state: { finishReason: FinishReason | undefined } = { finishReason: undefined };
    let firstTokenAt: number | undefined;
    let gaveUp = false;
    const entry: ScheduledEntry = {
      sequence,
      cancelled: () => gaveUp || signal?.aborted === true,
      onToken: (tokenId) => {
        firstTokenAt ??= performance.now();
        sequence.tokens.push(tokenId);
        sequence.sampler.observe(tokenId);
        tokenIds.push(tokenId);
        if (sequence.stopTokenIds.has(tokenId)) {
          state.finishReason = 'stop';
          return true;
        }
        const { text, stopped } = sequence.assembler.push(tokenId);
        if (stopped) state.finishReason = 'stop';
        else if (sequence.generatedCount >= sequence.maxNewTokens) state.finishReason = 'length';
        if (text !== '' || state.finishReason === undefined) push({ text, tokenId });
        return state.finishReason !== undefined;
      },
      onEnd: (error) => push(error ?? 'end'),
    };
    if (signal?.aborted) state.finishReason = 'abort';
    else scheduler.submit(entry);
    return {
      model,
      state,
      giveUp: () => {
        gaveUp = true;
      },
      finish: (delivered) => {
        let finishReason = state.finishReason;
        if (signal?.aborted && finishReason === undefined) finishReason = 'abort';
        const tail = finishReason !== 'abort' && !sequence.assembler.hasStopped ? sequence.assembler.finish().text : '';
        if (finishReason === 'abort') {
          // Report what the caller received: tokens picked after the last chunk it read are dropped.
          tokenIds.length = Math.min(tokenIds.length, delivered);
          sequence.tokens.length = Math.min(sequence.tokens.length, sequence.promptLength + delivered);
        }
        finishReason ??= 'stop';
        state.finishReason = finishReason;
        sequence.finishReason = finishReason;
        const end = performance.now();
        const completionTokens = sequence.generatedCount;
        const ttftMs = firstTokenAt === undefined ? end - start : firstTokenAt - start;
        const decodeMs = end - (firstTokenAt ?? end);
        const tokensPerSecond = completionTokens > 1 && decodeMs > 0 ? ((completionTokens - 1) * 1000) / decodeMs : completionTokens > 0 ? (completionTokens * 1000) / Math.max(end - start, 1e-6) : 0;
        return {
          text: tail,
          finishReason,
          usage: { promptTokens: sequence.promptLength, completionTokens, totalTokens: sequence.promptLength + completionTokens },
          timings: { ttftMs, totalMs: end - start, tokensPerSecond },
        };
      },
    };
  }
}

/** Creates the embedded ONNX engine. */
/**
 * Output bytes of decode steps between two scavenges. A scavenge costs ~0.3 ms in a process with a
 * tokenizer's heap, so one per step is pure overhead at short context (a few hundred KB per step).
 * Measured in the decode benchmark (requests after idle moments): a 6 MiB threshold (a scavenge
 * every 2 steps at position 512) brought the mark-compacts back, CPU per step at 512 17.8 ms against
 * the bare loop's 13.7; at 2 MiB every step at 512 and beyond is scavenged, every ~7th at 32.
 */
const SCAVENGE_AFTER_BYTES = 2 * 1024 * 1024;

/** The scheduler's per-step hook: a scavenge once enough step outputs died, when asked for and available (internal/young-gc.ts). */
function afterStepOf(scavenge: boolean): { afterStep?: (outputBytes: number) => void } {
  const gc = scavenge ? youngGc() : undefined;
  if (gc === undefined) return {};
  let pending = 0;
  return {
    afterStep: (outputBytes) => {
      pending += outputBytes;
      if (pending < SCAVENGE_AFTER_BYTES) return;
      pending = 0;
      gc();
    },
  };
}

export function createOnnxEngine(options: OnnxEngineOptions = {}): OnnxEngine {
  return new OnnxEngine(options);
}
