import { CapabilityUnsupportedError, InvalidRequestError, ModelNotFoundError, throwIfAborted } from '../errors.js';
import type { Engine, EngineCapabilities, EngineHealth, LoadedModelInfo, ModelSpec } from '../engine.js';
import type { GenerationRequest, GenerationResult, StreamChunk, TensorMap } from '../types.js';

export interface FakeEngineOptions {
  name?: string;
  /** Produces the answer for a prompt; default echoes the prompt's words back in reverse order. */
  respond?: (prompt: string) => string;
  /** Delay per generated word, in milliseconds. Default 0. */
  delayMs?: number;
  /** When set, every call fails with this error. */
  failWith?: Error;
}

function promptOf(request: GenerationRequest): string {
  if (request.prompt !== undefined) return request.prompt;
  return (request.messages ?? []).map((message) => message.content).join('\n');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A deterministic engine for users' own tests: words are "tokens", the answer comes from `respond`.
 * It honours maxTokens, stop sequences and AbortSignal like a real engine.
 */
export class FakeEngine implements Engine {
  readonly specificationVersion = 'v1' as const;
  readonly name: string;
  readonly capabilities: EngineCapabilities = {
    textGeneration: true,
    streaming: true,
    batching: true,
    embeddings: false,
    tensorInference: false,
  };
  readonly calls: GenerationRequest[] = [];
  private readonly loaded = new Map<string, ModelSpec>();
  private readonly options: FakeEngineOptions;

  constructor(options: FakeEngineOptions = {}) {
    this.options = options;
    this.name = options.name ?? 'fake';
  }

  async load(model: ModelSpec): Promise<LoadedModelInfo> {
    this.loaded.set(model.name, model);
    return { name: model.name, kind: 'causal-lm', contextLength: 4096 };
  }

  async unload(modelName: string): Promise<void> {
    this.loaded.delete(modelName);
  }

  models(): readonly string[] {
    return [...this.loaded.keys()];
  }

  async health(): Promise<EngineHealth> {
    return { ok: this.options.failWith === undefined, models: this.models() };
  }

  async generate(request: GenerationRequest): Promise<GenerationResult> {
    let text = '';
    let last: StreamChunk | undefined;
    for await (const chunk of this.stream(request)) {
      text += chunk.text;
      last = chunk;
    }
    return {
      text,
      finishReason: last?.finishReason ?? 'stop',
      usage: last?.usage ?? { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
      timings: last?.timings ?? { ttftMs: 0, totalMs: 0, tokensPerSecond: 0 },
      engineUsed: this.name,
      model: request.model ?? 'fake',
    };
  }

  async *stream(request: GenerationRequest): AsyncIterable<StreamChunk> {
    this.calls.push(request);
    throwIfAborted(request.signal);
    if (this.options.failWith) throw this.options.failWith;
    if (request.prompt === undefined && request.messages === undefined) throw new InvalidRequestError('Send `prompt` or `messages`.');
    if (request.model !== undefined && this.loaded.size > 0 && !this.loaded.has(request.model)) {
      throw new ModelNotFoundError(request.model, 'Load it first with engine.load().');
    }
    const started = performance.now();
    const prompt = promptOf(request);
    const answer = (this.options.respond ?? ((p: string) => p.split(/\s+/).reverse().join(' ')))(prompt);
    const words = answer.split(/(?<=\s)/).filter((word) => word.length > 0);
    const maxTokens = request.maxTokens ?? 16;
    const promptTokens = prompt.split(/\s+/).filter(Boolean).length;
    let produced = '';
    let count = 0;
    let finishReason: 'stop' | 'length' | 'abort' = 'stop';
    let firstAt = 0;
    for (const word of words) {
      if (request.signal?.aborted) {
        finishReason = 'abort';
        break;
      }
      if (count >= maxTokens) {
        finishReason = 'length';
        break;
      }
      if (this.options.delayMs) await sleep(this.options.delayMs);
      const next = produced + word;
      const stopAt = (request.stop ?? []).map((stop) => next.indexOf(stop)).filter((index) => index >= 0);
      if (stopAt.length > 0) {
        const cut = Math.min(...stopAt);
        if (cut > produced.length) yield { text: next.slice(produced.length, cut) };
        produced = next.slice(0, cut);
        count += 1;
        finishReason = 'stop';
        break;
      }
      produced = next;
      count += 1;
      if (count === 1) firstAt = performance.now();
      yield { text: word, tokenId: count };
    }
    if (request.signal?.aborted && finishReason !== 'abort') finishReason = 'abort';
    const totalMs = performance.now() - started;
    yield {
      text: '',
      finishReason,
      usage: { promptTokens, completionTokens: count, totalTokens: promptTokens + count },
      timings: {
        ttftMs: (firstAt || performance.now()) - started,
        totalMs,
        tokensPerSecond: totalMs > 0 ? (count * 1000) / totalMs : 0,
      },
    };
  }

  async generateBatch(requests: readonly GenerationRequest[]): Promise<Array<GenerationResult | Error>> {
    return Promise.all(
      requests.map((request) =>
        this.generate(request).catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))),
      ),
    );
  }

  async infer(_modelName: string, _inputs: TensorMap): Promise<TensorMap> {
    throw new CapabilityUnsupportedError(this.name, 'tensor inference');
  }

  async close(): Promise<void> {
    this.loaded.clear();
  }
}
