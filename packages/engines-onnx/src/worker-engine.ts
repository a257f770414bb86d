import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { MuaiError, throwIfAborted } from '@muai/core';
import type {
  Engine,
  EngineCapabilities,
  EngineHealth,
  GenerationRequest,
  GenerationResult,
  InferOptions,
  LoadedModelInfo,
  ModelSpec,
  StreamChunk,
  TensorMap,
} from '@muai/core';
import type { KvCacheStats } from '@muai/kv-cache';
import { OnnxEngine } from './onnx-engine.js';
import type { OnnxEngineOptions } from './options.js';
import type { SchedulerStats } from './internal/scheduler.js';
import { ChunkQueue } from './internal/chunk-queue.js';
import { deserializeError } from './worker-protocol.js';
import type { FromWorker, SerializedError, ToWorker } from './worker-protocol.js';

/** Options of the worker-thread engine: the OnnxEngine options, plus where the worker script is. */
export interface OnnxWorkerEngineOptions extends OnnxEngineOptions {
  /**
   * Path of the worker script (the built `worker-entry.js` / `.cjs`). Default: the one beside this
   * module in dist/, found on its own. Tests running the TypeScript source pass a built script here.
   */
  workerScript?: string;
  /** How long `close()` waits for the worker to unload and end before terminating it. Default 10000 ms. */
  closeTimeoutMs?: number;
}

/** What `describeModel` answers (same fields as `OnnxEngine.describeModel`). */
export type OnnxModelDescription = ReturnType<OnnxEngine['describeModel']>;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: MuaiError) => void;
  /** Stream calls only: one chunk, or the end. */
  onChunk?: (chunk: StreamChunk) => void;
  onEnd?: () => void;
}

/** The script beside this module file (dist/worker-entry.js for ESM, .cjs for CommonJS), else the package's dist. */
function defaultWorkerScript(): string {
  // tsup's shims give CommonJS builds an import.meta.url too (the .cjs file's own URL).
  const self = fileURLToPath(import.meta.url);
  const here = dirname(self);
  const candidates = [join(here, self.endsWith('.cjs') ? 'worker-entry.cjs' : 'worker-entry.js'), resolve(here, '../dist/worker-entry.js')];
  return candidates.find((file) => existsSync(file)) ?? candidates[0]!;
}

function stripSignal(request: GenerationRequest): GenerationRequest {
  if (request === null || typeof request !== 'object' || !('signal' in request)) return request;
  const { signal: _signal, ...rest } = request;
  return rest;
}

/**
 * The embedded ONNX engine in a worker thread: an `OnnxEngine` (same options) runs in a
 * `node:worker_threads` Worker, so that ONNX Runtime's synchronous `session.run` and the decode
 * loop's promises do not hold the main thread (HTTP I/O, tracing). Opt-in; `createOnnxEngine`
 * stays in process. `describeModel`, `encodeRequest`, `cacheStats` and `batchStats` answer
 * promises here (they are synchronous on OnnxEngine).
 */
export class OnnxWorkerEngine implements Engine {
  readonly specificationVersion = 'v1' as const;
  readonly name = 'onnx';
  readonly capabilities: EngineCapabilities;
  readonly options: OnnxEngine['options'];
  /** The worker script in use. */
  readonly workerScript: string;
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  /** An object, so that wrappers made with Object.create(engine) share one id sequence. */
  private readonly ids = { next: 1 };
  private loadedModels: readonly string[] = [];
  private failure: MuaiError | undefined;
  private closing = false;
  private closed: Promise<void> = Promise.resolve();
  private readonly closeTimeoutMs: number;

  constructor(options: OnnxWorkerEngineOptions = {}) {
    const { workerScript, closeTimeoutMs, ...engineOptions } = options;
    this.closeTimeoutMs = closeTimeoutMs ?? 10_000;
    // Validates the options exactly as the in-process engine does (CONFIG_INVALID), without loading anything.
    const probe = new OnnxEngine(engineOptions);
    this.capabilities = probe.capabilities;
    this.options = probe.options;
    this.workerScript = workerScript ?? defaultWorkerScript();
    if (!existsSync(this.workerScript)) {
      throw new MuaiError('ENGINE_UNAVAILABLE', `The ONNX worker script ${this.workerScript} does not exist. Build @muai/engines-onnx (npx tsup in packages/engines-onnx) or pass workerScript.`, {
        details: { workerScript: this.workerScript },
      });
    }
    this.worker = new Worker(this.workerScript, { workerData: { options: engineOptions } });
    this.worker.unref();
    this.worker.on('message', (message: FromWorker) => this.receive(message));
    this.worker.on('error', (error: Error) => this.fail(`the worker thread crashed: ${error.message}`));
    this.worker.on('exit', (code) => {
      if (!this.closing) this.fail(`the worker thread exited unexpectedly (exit code ${code})`);
    });
  }

  models(): readonly string[] {
    return this.loadedModels;
  }

  async health(): Promise<EngineHealth> {
    if (this.failure !== undefined) return { ok: false, detail: this.failure.message, models: [] };
    if (this.closing) return { ok: false, detail: 'engine closed', models: [] };
    return (await this.call('health', [])) as EngineHealth;
  }

  async load(spec: ModelSpec): Promise<LoadedModelInfo> {
    return (await this.call('load', [spec])) as LoadedModelInfo;
  }

  async unload(modelName: string): Promise<void> {
    await this.call('unload', [modelName]);
  }

  async generate(request: GenerationRequest): Promise<GenerationResult> {
    throwIfAborted(request?.signal); // cancelled before it arrived: nothing is sent to the worker
    return (await this.call('generate', [stripSignal(request)], request?.signal)) as GenerationResult;
  }

  async generateBatch(requests: readonly GenerationRequest[]): Promise<Array<GenerationResult | Error>> {
    const signals = requests.map((request) => request?.signal);
    const results = (await this.call('generateBatch', [requests.map(stripSignal)], undefined, signals)) as Array<GenerationResult | { __error: SerializedError }>;
    return results.map((result) => ('__error' in result ? deserializeError(result.__error) : result));
  }

  async infer(modelName: string, inputs: TensorMap, options: InferOptions = {}): Promise<TensorMap> {
    // Inputs are copied (structured clone): the caller's arrays stay usable.
    return (await this.call('infer', [modelName, inputs], options.signal)) as TensorMap;
  }

  stream(request: GenerationRequest): AsyncIterable<StreamChunk> {
    return this.streamChunks(request);
  }

  /** Same as `OnnxEngine.describeModel`, answered by the worker. */
  async describeModel(modelName: string): Promise<OnnxModelDescription> {
    return (await this.call('describeModel', [modelName])) as OnnxModelDescription;
  }

  /** Same as `OnnxEngine.encodeRequest`, answered by the worker. */
  async encodeRequest(request: Pick<GenerationRequest, 'model' | 'prompt' | 'messages'>): Promise<number[]> {
    return (await this.call('encodeRequest', [stripSignal(request as GenerationRequest)])) as number[];
  }

  /** Same as `OnnxEngine.cacheStats`, answered by the worker. */
  async cacheStats(modelName?: string): Promise<KvCacheStats | undefined> {
    return (await this.call('cacheStats', [modelName])) as KvCacheStats | undefined;
  }

  /** Same as `OnnxEngine.batchStats`, answered by the worker. */
  async batchStats(modelName?: string): Promise<SchedulerStats> {
    return (await this.call('batchStats', [modelName])) as SchedulerStats;
  }

  /** Same as `OnnxEngine.setLimits`, applied in the worker between decode steps. */
  async setLimits(limits: { maxBatchSize?: number; maxBatchTokens?: number }, modelName?: string): Promise<string[]> {
    return (await this.call('setLimits', [limits, modelName])) as string[];
  }

  /**
   * Stops running calls, unloads every model in the worker, then lets the worker thread end on its
   * own (it closes its port once idle). Ending the thread while ONNX Runtime is inside a native call
   * can abort the whole process, so `terminate()` is only the fallback after `closeTimeoutMs`.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.closing) return this.closed;
    this.closing = true;
    this.closed = this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    const exited = new Promise<void>((resolveExit) => this.worker.once('exit', () => resolveExit()));
    const closed = new MuaiError('ENGINE_UNAVAILABLE', 'This ONNX worker engine was closed. Create a new one with createOnnxWorkerEngine().');
    if (this.failure === undefined) {
      for (const id of this.pending.keys()) this.worker.postMessage({ id, abort: true } satisfies ToWorker);
      const id = this.ids.next++;
      this.worker.ref();
      this.worker.postMessage({ id, method: 'close', args: [] } satisfies ToWorker);
    }
    this.loadedModels = [];
    for (const [id, entry] of [...this.pending]) {
      this.pending.delete(id);
      entry.reject(closed);
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolveTimeout) => (timer = setTimeout(() => resolveTimeout('timeout'), this.closeTimeoutMs)));
    const outcome = this.failure === undefined ? await Promise.race([exited, timeout]) : 'timeout';
    clearTimeout(timer);
    if (outcome === 'timeout') await this.worker.terminate();
  }

  private unavailable(): MuaiError | undefined {
    if (this.failure !== undefined) return this.failure;
    if (this.closing) return new MuaiError('ENGINE_UNAVAILABLE', 'This ONNX worker engine was closed. Create a new one with createOnnxWorkerEngine().');
    return undefined;
  }

  private register(entry: Pending): number {
    const id = this.ids.next++;
    this.pending.set(id, entry);
    if (this.pending.size === 1) this.worker.ref();
    return id;
  }

  private settle(id: number): Pending | undefined {
    const entry = this.pending.get(id);
    if (entry === undefined) return undefined;
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
    return entry;
  }

  /** Sends the call; the main-side signals (one per batch request) become abort messages. */
  private call(method: string, args: unknown[], signal?: AbortSignal, batchSignals: ReadonlyArray<AbortSignal | undefined> = []): Promise<unknown> {
    const error = this.unavailable();
    if (error !== undefined) return Promise.reject(error);
    return new Promise((resolvePromise, rejectPromise) => {
      const cleanups: Array<() => void> = [];
      const done = (): void => cleanups.forEach((cleanup) => cleanup());
      const id = this.register({
        resolve: (value) => {
          done();
          resolvePromise(value);
        },
        reject: (reason) => {
          done();
          rejectPromise(reason);
        },
      });
      try {
        this.worker.postMessage({ id, method, args } satisfies ToWorker);
      } catch (cause) {
        this.settle(id);
        rejectPromise(new MuaiError('INVALID_REQUEST', `The ${method} arguments cannot be sent to the ONNX worker thread: ${(cause as Error).message}`, { cause }));
        return;
      }
      const watch = (watched: AbortSignal | undefined, index?: number): void => {
        if (watched === undefined) return;
        const abort = (): void => {
          if (this.pending.has(id)) this.worker.postMessage({ id, abort: true, ...(index === undefined ? {} : { index }) } satisfies ToWorker);
        };
        if (watched.aborted) return abort();
        watched.addEventListener('abort', abort, { once: true });
        cleanups.push(() => watched.removeEventListener('abort', abort));
      };
      watch(signal);
      batchSignals.forEach((batchSignal, index) => watch(batchSignal, index));
    });
  }

  private async *streamChunks(request: GenerationRequest): AsyncGenerator<StreamChunk> {
    throwIfAborted(request?.signal);
    const unavailable = this.unavailable();
    if (unavailable !== undefined) throw unavailable;
    // No signal here: an abort is sent to the worker, which ends the stream with its final chunk.
    const queue = new ChunkQueue(undefined);
    const push = (item: StreamChunk | 'end' | MuaiError): void => queue.push(item);
    const id = this.register({ resolve: () => push('end'), reject: (error) => push(error), onChunk: (chunk) => push(chunk), onEnd: () => push('end') });
    const signal = request?.signal;
    const abort = (): void => {
      if (this.pending.has(id)) this.worker.postMessage({ id, abort: true } satisfies ToWorker);
    };
    let finished = false;
    try {
      this.worker.postMessage({ id, method: 'stream', args: [stripSignal(request)] } satisfies ToWorker);
      if (signal?.aborted) abort();
      else signal?.addEventListener('abort', abort, { once: true });
      for (;;) {
        const item = await queue.next();
        if (item === 'end' || item === 'abort') {
          finished = true;
          return;
        }
        if (item instanceof Error) {
          finished = true;
          throw item;
        }
        yield item;
      }
    } finally {
      signal?.removeEventListener('abort', abort);
      // The consumer left early: stop generating in the worker and forget the call.
      if (!finished && this.pending.has(id)) {
        abort();
        this.settle(id);
      }
    }
  }

  private receive(message: FromWorker): void {
    if ('models' in message && message.models !== undefined) this.loadedModels = Object.freeze([...message.models]);
    if ('chunk' in message) {
      this.pending.get(message.id)?.onChunk?.(message.chunk as StreamChunk);
      return;
    }
    const entry = this.settle(message.id);
    if (entry === undefined) return;
    if ('end' in message) (entry.onEnd ?? entry.resolve)(undefined);
    else if (message.ok) entry.resolve(message.value);
    else entry.reject(deserializeError(message.error));
  }

  /** The worker is gone: every pending and later call fails with ENGINE_ERROR naming the cause. */
  private fail(reason: string): void {
    if (this.failure !== undefined) return;
    this.failure = new MuaiError('ENGINE_ERROR', `The ONNX worker engine stopped: ${reason}. Create a new engine with createOnnxWorkerEngine().`, { details: { reason } });
    this.loadedModels = [];
    for (const [id, entry] of [...this.pending]) {
      this.pending.delete(id);
      entry.reject(this.failure);
    }
  }
}

/** Starts the ONNX engine in a worker thread (opt-in; see OnnxWorkerEngine). */
export function createOnnxWorkerEngine(options: OnnxWorkerEngineOptions = {}): OnnxWorkerEngine {
  return new OnnxWorkerEngine(options);
}
