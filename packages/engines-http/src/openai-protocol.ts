import { InvalidRequestError, MuaiError, throwIfAborted } from '@muai/core';
import type { FinishReason, GenerationRequest, GenerationResult, StreamChunk, Timings, Usage } from '@muai/core';
import { malformedResponseError } from './errors.js';
import type { HttpClient } from './http-client.js';
import { hopHeaders } from './http-client.js';
import { parseSse } from './sse.js';

/**
 * Which request fields a server understands beyond OpenAI's.
 * - `vllm`: top_k, min_p, repetition_penalty, seed, stop_token_ids, stream_options, return_token_ids in batches.
 * - `mii`: DeepSpeed-MII's OpenAI server (FastChat-derived): top_k; no stream_options, no seed.
 * - `openai`: only OpenAI's own fields (temperature, top_p, max_tokens, stop, seed, stream_options).
 */
export type OpenAiDialect = 'vllm' | 'mii' | 'openai';

export interface OpenAiProtocolOptions {
  http: HttpClient;
  /** Engine name reported as `engineUsed`. */
  engine: string;
  /** Default `openai`. */
  dialect?: OpenAiDialect;
  /** Temperature sent when a request has none. Default 0 (greedy), as in every MuAI engine. */
  defaultTemperature?: number;
  /** max_tokens sent when a request has none. Default: not sent (server default). */
  defaultMaxTokens?: number;
  /** Most prompts sent in one batched completions request. Default 64. */
  maxBatchPrompts?: number;
  /** Extra JSON fields added to every generation request. */
  extraBody?: Record<string, unknown>;
}

/** A model the server lists at `/v1/models`. */
export interface ServedModel {
  id: string;
  /** vLLM reports the context window as `max_model_len`. */
  maxModelLen?: number;
  root?: string;
}

interface CompletionChoice {
  index?: number;
  text?: string;
  message?: { content?: string | null };
  delta?: { content?: string | null };
  finish_reason?: string | null;
  token_ids?: number[] | null;
  prompt_token_ids?: number[] | null;
}

interface CompletionBody {
  choices?: CompletionChoice[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number } | null;
  error?: { message?: string; type?: string; code?: unknown };
  model?: string;
  metrics?: { time_to_first_token_ms?: number; queue_time_ms?: number; tokens_per_second?: number };
}

/**
 * What prefix-affinity routing hashes for a request: the prompt, or the chat messages' contents
 * joined with newlines (as vLLM production-stack's prefix router does), so a shared system prompt
 * or document at the start maps to the same endpoint.
 */
export function routingKeyOf(request: Pick<GenerationRequest, 'prompt' | 'messages'>): string {
  if (request.prompt !== undefined) return request.prompt;
  return (request.messages ?? []).map((message) => message.content).join('\n');
}

/** Maps a server `finish_reason` to ours. Missing or null is `error`: the server did not say it finished. */
export function mapFinishReason(reason: string | null | undefined): FinishReason {
  if (reason === 'length') return 'length';
  if (reason === 'abort') return 'abort';
  if (reason === null || reason === undefined || reason === 'none' || reason === 'error') return 'error';
  return 'stop';
}

function usageOf(body: CompletionBody['usage']): Usage | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const promptTokens = Number(body.prompt_tokens ?? 0);
  const completionTokens = Number(body.completion_tokens ?? 0);
  return { promptTokens, completionTokens, totalTokens: Number(body.total_tokens ?? promptTokens + completionTokens) };
}

function timingsOf(started: number, firstAt: number | undefined, completionTokens: number, server?: CompletionBody['metrics']): Timings {
  const end = performance.now();
  const totalMs = end - started;
  const ttftMs = server?.time_to_first_token_ms ?? (firstAt === undefined ? totalMs : firstAt - started);
  const decodeMs = totalMs - ttftMs;
  const timings: Timings = {
    ttftMs,
    totalMs,
    tokensPerSecond: server?.tokens_per_second ?? (decodeMs > 0 ? (completionTokens * 1000) / decodeMs : 0),
  };
  if (server?.queue_time_ms !== undefined) timings.queueMs = server.queue_time_ms;
  return timings;
}

/**
 * Client of the OpenAI-compatible protocol (`/v1/completions`, `/v1/chat/completions`, `/v1/models`)
 * as vLLM and DeepSpeed-MII speak it: JSON and SSE streaming, batched prompts, honest finish reasons.
 */
export class OpenAiProtocolClient {
  readonly http: HttpClient;
  private readonly options: OpenAiProtocolOptions;

  constructor(options: OpenAiProtocolOptions) {
    this.options = options;
    this.http = options.http;
  }

  private get dialect(): OpenAiDialect {
    return this.options.dialect ?? 'openai';
  }

  /** `GET /v1/models`. */
  async listModels(signal?: AbortSignal): Promise<ServedModel[]> {
    const { body, endpoint } = await this.http.json<{ data?: unknown }>({ path: '/v1/models', signal });
    if (!Array.isArray(body.data)) {
      throw malformedResponseError({ engine: this.options.engine, endpoint, path: '/v1/models' }, '`data` is not a list');
    }
    return body.data
      .filter((card): card is Record<string, unknown> => typeof card === 'object' && card !== null && typeof (card as { id?: unknown }).id === 'string')
      .map((card) => {
        const model: ServedModel = { id: card.id as string };
        if (typeof card.max_model_len === 'number') model.maxModelLen = card.max_model_len;
        if (typeof card.root === 'string') model.root = card.root;
        return model;
      });
  }

  /** Path for a request: chat when it has messages, plain completions when it has a prompt. */
  pathOf(request: GenerationRequest): '/v1/completions' | '/v1/chat/completions' {
    if (request.messages !== undefined && request.prompt === undefined) return '/v1/chat/completions';
    if (request.prompt !== undefined && request.messages === undefined) return '/v1/completions';
    throw new InvalidRequestError('A generation request needs exactly one of `prompt` or `messages`.');
  }

  /** The sampling fields of a request body (no prompt, no messages, no stream). */
  samplingBody(request: GenerationRequest): Record<string, unknown> {
    const body: Record<string, unknown> = { ...this.options.extraBody };
    body.temperature = request.temperature ?? this.options.defaultTemperature ?? 0;
    const maxTokens = request.maxTokens ?? this.options.defaultMaxTokens;
    if (maxTokens !== undefined) body.max_tokens = maxTokens;
    if (request.topP !== undefined) body.top_p = request.topP;
    if (request.stop !== undefined && request.stop.length > 0) body.stop = [...request.stop];
    if (this.dialect !== 'mii' && request.seed !== undefined) body.seed = request.seed;
    if (this.dialect !== 'openai' && request.topK !== undefined) body.top_k = request.topK;
    if (this.dialect === 'vllm') {
      if (request.minP !== undefined) body.min_p = request.minP;
      if (request.repetitionPenalty !== undefined) body.repetition_penalty = request.repetitionPenalty;
      if (request.stopTokenIds !== undefined && request.stopTokenIds.length > 0) body.stop_token_ids = [...request.stopTokenIds];
      if (request.ignoreEos === true) body.ignore_eos = true;
    }
    return body;
  }

  /** The full JSON body for one request. */
  buildBody(request: GenerationRequest, model: string, stream: boolean): Record<string, unknown> {
    const path = this.pathOf(request);
    const body: Record<string, unknown> = { model, ...this.samplingBody(request) };
    if (path === '/v1/chat/completions') body.messages = (request.messages ?? []).map((m) => ({ role: m.role, content: m.content }));
    else body.prompt = request.prompt;
    if (stream) {
      body.stream = true;
      if (this.dialect !== 'mii') body.stream_options = { include_usage: true };
    }
    return body;
  }

  private context(endpoint: string, path: string) {
    return { engine: this.options.engine, endpoint, path };
  }

  /** One non-streaming generation. A body cut or not JSON is ENGINE_ERROR. */
  async generate(request: GenerationRequest, model: string): Promise<GenerationResult> {
    throwIfAborted(request.signal);
    const started = performance.now();
    const path = this.pathOf(request);
    const { body, endpoint } = await this.http.json<CompletionBody>({
      path,
      body: this.buildBody(request, model, false),
      signal: request.signal,
      model,
      routingKey: routingKeyOf(request),
      headers: hopHeaders(request.via),
    });
    const choice = Array.isArray(body.choices) ? body.choices[0] : undefined;
    if (!choice) throw malformedResponseError(this.context(endpoint, path), '`choices` is missing or empty');
    const text = path === '/v1/completions' ? choice.text : choice.message?.content;
    if (typeof text !== 'string' && text !== null) throw malformedResponseError(this.context(endpoint, path), 'the choice has no text');
    const usage = usageOf(body.usage) ?? { promptTokens: 0, completionTokens: choice.token_ids?.length ?? 0, totalTokens: choice.token_ids?.length ?? 0 };
    const result: GenerationResult = {
      text: text ?? '',
      finishReason: mapFinishReason(choice.finish_reason),
      usage,
      timings: timingsOf(started, undefined, usage.completionTokens, body.metrics),
      engineUsed: this.options.engine,
      model,
    };
    if (Array.isArray(choice.token_ids)) result.tokenIds = choice.token_ids;
    return result;
  }

  /**
   * Streams one generation over SSE. Failures before the first byte throw (after retries);
   * afterwards the stream always ends with one final chunk whose `finishReason` is honest:
   * the server's reason, `abort` when the caller cancelled, `error` when the stream broke, sent an
   * error event, sent malformed JSON, or ended without a finish reason.
   */
  async *stream(request: GenerationRequest, model: string): AsyncGenerator<StreamChunk> {
    throwIfAborted(request.signal);
    const started = performance.now();
    const path = this.pathOf(request);
    const open = await this.http.open({
      path,
      body: this.buildBody(request, model, true),
      signal: request.signal,
      model,
      routingKey: routingKeyOf(request),
      headers: hopHeaders(request.via),
      accept: 'text/event-stream',
    });
    let firstAt: number | undefined;
    let finish: FinishReason | undefined;
    let usage: Usage | undefined;
    let failure: MuaiError | undefined;
    let pieces = 0;
    let ended = false;
    // A mid-stream error event is the model's failure, not the endpoint's; a broken body or bad JSON is the endpoint's.
    let endpointOk = true;
    try {
      if (!open.response.body) throw malformedResponseError(open.context, 'the response has no body');
      for await (const event of parseSse(open.response.body)) {
        if (event.data === '[DONE]') {
          ended = true;
          break;
        }
        let chunk: CompletionBody;
        try {
          chunk = JSON.parse(event.data) as CompletionBody;
        } catch (error) {
          failure = malformedResponseError(open.context, `an SSE event is not JSON: ${JSON.stringify(event.data.slice(0, 80))}`, error);
          endpointOk = false;
          break;
        }
        if (chunk.error) {
          failure = new MuaiError('ENGINE_ERROR', `${this.options.engine} reported an error mid-stream: ${chunk.error.message ?? 'unknown'}.`, {
            details: { engine: this.options.engine, endpoint: open.endpoint, serverType: chunk.error.type },
          });
          continue;
        }
        const chunkUsage = usageOf(chunk.usage);
        if (chunkUsage) usage = chunkUsage;
        for (const choice of chunk.choices ?? []) {
          const text = choice.text ?? choice.delta?.content ?? '';
          if (text) {
            if (firstAt === undefined) firstAt = performance.now();
            pieces += 1;
            yield { text };
          }
          if (choice.finish_reason !== null && choice.finish_reason !== undefined && choice.finish_reason !== 'none') {
            finish = mapFinishReason(choice.finish_reason);
          }
        }
      }
    } catch (error) {
      failure = open.mapError(error);
      if (failure.code !== 'REQUEST_ABORTED') endpointOk = false;
    } finally {
      if (!ended) await open.response.body?.cancel().catch(() => undefined);
      open.finish(endpointOk);
    }
    let finishReason: FinishReason;
    if (request.signal?.aborted) finishReason = 'abort';
    else if (failure) finishReason = 'error';
    else finishReason = finish ?? 'error';
    const finalUsage = usage ?? { promptTokens: 0, completionTokens: pieces, totalTokens: pieces };
    yield { text: '', finishReason, usage: finalUsage, timings: timingsOf(started, firstAt, finalUsage.completionTokens) };
  }

  /** A key that is equal for requests that can share one batched completions call. */
  private batchKey(request: GenerationRequest, model: string): string | undefined {
    if (request.prompt === undefined || request.messages !== undefined || request.signal !== undefined) return undefined;
    return JSON.stringify([model, this.samplingBody(request)]);
  }

  /**
   * Serves several requests. Plain-prompt requests with the same model and sampling parameters go
   * in ONE `/v1/completions` call (`prompt` as a list; choices matched back by `index`); the rest go
   * one by one, concurrently. If a batched call is rejected as invalid, its prompts are retried one
   * by one so that one bad prompt does not fail the others.
   */
  async generateBatch(requests: readonly GenerationRequest[], modelOf: (request: GenerationRequest) => string): Promise<Array<GenerationResult | Error>> {
    const results: Array<GenerationResult | Error | undefined> = new Array(requests.length);
    const groups = new Map<string, number[]>();
    const single: number[] = [];
    requests.forEach((request, index) => {
      let key: string | undefined;
      try {
        key = this.batchKey(request, modelOf(request));
      } catch {
        key = undefined;
      }
      if (key === undefined) single.push(index);
      else groups.set(key, [...(groups.get(key) ?? []), index]);
    });
    const limit = Math.max(1, this.options.maxBatchPrompts ?? 64);
    const tasks: Array<Promise<void>> = [];
    const one = async (index: number) => {
      const request = requests[index]!;
      try {
        results[index] = await this.generate(request, modelOf(request));
      } catch (error) {
        results[index] = error instanceof Error ? error : new Error(String(error));
      }
    };
    for (const indexes of groups.values()) {
      for (let start = 0; start < indexes.length; start += limit) {
        const slice = indexes.slice(start, start + limit);
        if (slice.length === 1) tasks.push(one(slice[0]!));
        else tasks.push(this.completeMany(requests, slice, modelOf, results, one));
      }
    }
    for (const index of single) tasks.push(one(index));
    await Promise.all(tasks);
    return results.map((result) => result ?? new MuaiError('INTERNAL', 'A batch item got no result.'));
  }

  private async completeMany(
    requests: readonly GenerationRequest[],
    indexes: number[],
    modelOf: (request: GenerationRequest) => string,
    results: Array<GenerationResult | Error | undefined>,
    one: (index: number) => Promise<void>,
  ): Promise<void> {
    const first = requests[indexes[0]!]!;
    const model = modelOf(first);
    const body: Record<string, unknown> = { model, ...this.samplingBody(first), prompt: indexes.map((index) => requests[index]!.prompt) };
    if (this.dialect === 'vllm') body.return_token_ids = true;
    const started = performance.now();
    let response: { endpoint: string; body: CompletionBody };
    try {
      response = await this.http.json<CompletionBody>({ path: '/v1/completions', body, model, routingKey: routingKeyOf(first), headers: hopHeaders(first.via) });
    } catch (error) {
      if (MuaiError.hasCode(error, 'INVALID_REQUEST') || MuaiError.hasCode(error, 'CONTEXT_LENGTH_EXCEEDED')) {
        await Promise.all(indexes.map(one));
        return;
      }
      const failure = error instanceof Error ? error : new Error(String(error));
      for (const index of indexes) results[index] = failure;
      return;
    }
    const choices = Array.isArray(response.body.choices) ? response.body.choices : [];
    const total = usageOf(response.body.usage);
    const byIndex = new Map<number, CompletionChoice>();
    choices.forEach((choice, position) => byIndex.set(typeof choice.index === 'number' ? choice.index : position, choice));
    indexes.forEach((requestIndex, position) => {
      const choice = byIndex.get(position);
      if (!choice || typeof choice.text !== 'string') {
        results[requestIndex] = malformedResponseError(this.context(response.endpoint, '/v1/completions'), `no choice with index ${position}`);
        return;
      }
      // Per-prompt counts come from token ids (vLLM with return_token_ids); otherwise the total is shared evenly (approximate).
      const completionTokens = choice.token_ids?.length ?? Math.round((total?.completionTokens ?? 0) / indexes.length);
      const promptTokens = choice.prompt_token_ids?.length ?? Math.round((total?.promptTokens ?? 0) / indexes.length);
      const result: GenerationResult = {
        text: choice.text,
        finishReason: mapFinishReason(choice.finish_reason),
        usage: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens },
        timings: timingsOf(started, undefined, completionTokens, response.body.metrics),
        engineUsed: this.options.engine,
        model,
      };
      if (Array.isArray(choice.token_ids)) result.tokenIds = choice.token_ids;
      results[requestIndex] = result;
    });
  }
}
