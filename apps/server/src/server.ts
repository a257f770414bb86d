import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify';
import {
  InvalidRequestError,
  LoopDetectedError,
  MuaiError,
  ModelNotFoundError,
  QueueFullError,
  type Engine,
  type FinishReason,
  type GenerationRequest,
  type GenerationResult,
  type StreamChunk,
  type Usage,
  combineMetricsSinks,
  toTracer,
  type GenAiUsage,
  type InferenceSpanInfo,
  type MetricsSink,
  type Span,
  type TracerInput,
} from '@muai/core';
import type { ZodError } from 'zod';
import { DEFAULT_LIMITS, chatSchema, completionSchema, describeIssues, type RequestLimits } from './schemas.js';
import { toErrorResponse } from './errors.js';
import { chatMessages, completionResponse, generationOptions, openAIFinish, type CompletionKind } from './openai-mapping.js';
import { apiKeyAuth, operationalRoutes } from './plugins.js';
import { SseWriter } from './sse-writer.js';

/**
 * Metrics the server records into and serves on `/metrics`: a @muai/core metrics sink plus its
 * Prometheus text exposition. `PrometheusExporter` from @muai/monitoring fits it.
 */
export interface ServerMetrics extends Partial<MetricsSink> {
  /** Prometheus text exposition of every metric. */
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** What /ready answers: ready, or not with the reason (e.g. `MODEL_NOT_FOUND: ...`). */
export interface Readiness {
  ready: boolean;
  reason?: string;
}

export interface ServerOptions {
  /** The engine (or orchestrator facade implementing the Engine contract) that serves generation. */
  engine: Engine;
  /** Model used when a request names none; default: the engine's first loaded model. */
  defaultModel?: string;
  /** When set, every /v1 request needs `Authorization: Bearer <key>` with one of these keys (compared in constant time). */
  apiKey?: string | readonly string[];
  /**
   * Most generation requests in flight at once; beyond it a request is refused at once with 429
   * QUEUE_FULL and `Retry-After` (TGI's max_concurrent_requests). Default: no limit.
   */
  maxConcurrentRequests?: number;
  /** Longest time a client may take to send one whole request (slow clients), in ms. Default 30 000. */
  requestTimeoutMs?: number;
  /**
   * Aborted when the server stops for good (grace period over, second SIGTERM): each stream still
   * running ends with a SHUTTING_DOWN error event instead of being cut silently.
   */
  shutdownSignal?: AbortSignal;
  /** Request limits (defaults: 200k prompt chars, max_tokens 4096, 256 messages). */
  limits?: Partial<RequestLimits>;
  /** Largest request body in bytes. Default 1 MiB. */
  bodyLimitBytes?: number;
  metrics?: ServerMetrics;
  /** @muai/core tracer (an OTelTracer from @muai/monitoring); default NOOP_TRACER. Any part of one is completed with no-op spans. */
  tracer?: TracerInput;
  /**
   * Ready only when this says so (e.g. the default model loaded); `{ ready: false, reason }` puts
   * the reason in /ready's body. Default: ready when the engine is healthy and has a model.
   */
  isReady?: () => boolean | Readiness | Promise<boolean | Readiness>;
  /** Fastify logger option. Default false (the CLI passes pino options). */
  logger?: boolean | Record<string, unknown>;
  /**
   * Extra Fastify plugins registered after the built-in routes, in order: how optional features
   * (alerts, tuner, rate limits, response cache) add routes and hooks without this file knowing them.
   */
  plugins?: readonly FastifyPluginAsync[];
}

interface Prepared {
  request: GenerationRequest;
  model: string;
  includeUsage: boolean;
  stream: boolean;
}

const now = () => Math.floor(Date.now() / 1000);

/** More MuAI servers than this on one request's path is a loop even without our own entry. */
const MAX_MUAI_HOPS = 8;

/** Fastify's own client errors (FST_ERR_*, 4xx) as the documented MuAI code of their kind. */
function fromFastify(error: Error & { statusCode?: number; code?: string }): Error {
  const details = { fastifyCode: error.code };
  if (error.statusCode === 413) return new MuaiError('REQUEST_TOO_LARGE', `${error.message}. Send less, or raise monitoring.server.body_limit_bytes.`, { cause: error, details });
  if (error.statusCode === 404) return new MuaiError('NOT_FOUND', error.message, { cause: error, details });
  if (error.statusCode !== undefined && error.statusCode < 500) return new InvalidRequestError(error.message, { cause: error, details });
  return error;
}

function shuttingDown(error: unknown): MuaiError {
  return new MuaiError('SHUTTING_DOWN', 'The server stopped (grace period over or a second SIGTERM) before this stream finished. Retry on another replica.', { cause: error });
}

/**
 * Malformed HTTP that never becomes a request (broken chunked encoding, oversized headers, a client
 * too slow to send its request): answered with a documented code and the connection closed.
 */
function rejectMalformed(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [413, 'REQUEST_TOO_LARGE', 'The request headers are too large.']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [400, 'INVALID_REQUEST', 'The request was not received in time (slow or stalled client).']
        : [400, 'INVALID_REQUEST', `Malformed HTTP request (${error.code ?? 'parse error'}).`];
  const body = JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code } });
  if (socket.writable) socket.write(`HTTP/1.1 ${status} ${status === 413 ? 'Content Too Large' : 'Bad Request'}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`);
  socket.destroy();
}

/** Builds the Fastify app. Call `listen` yourself, or use `startServer` from this package. */
export function createServer(options: ServerOptions): FastifyInstance {
  const limits: RequestLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const completionBody = completionSchema(limits);
  const chatBody = chatSchema(limits);
  const engine = options.engine;
  const apiKeys = typeof options.apiKey === 'string' ? [options.apiKey] : (options.apiKey ?? []);
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: options.bodyLimitBytes ?? 1024 * 1024,
    genReqId: () => randomUUID(),
    // Fastify's default (0) lets a client that sends a byte a second hold a connection forever.
    requestTimeout: requestTimeoutMs,
    http: { connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(requestTimeoutMs / 4))) },
    clientErrorHandler: rejectMalformed,
  });

  app.setErrorHandler((error: Error & { statusCode?: number; code?: string }, _request, reply) => {
    // Fastify's own errors (bad JSON, body too large, wrong content type) are client errors, answered
    // with the documented code of their kind (docs/errors.md), never Fastify's FST_ERR_* name.
    const { status, body } = toErrorResponse(MuaiError.isInstance(error) ? error : fromFastify(error));
    if (status >= 500) app.log.error({ err: error }, 'request failed');
    if (status === 429 || status === 503) void reply.header('retry-after', '1');
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({
      error: { message: `No route ${request.method} ${request.url}. See GET /v1/models, POST /v1/completions, POST /v1/chat/completions.`, type: 'not_found_error', param: null, code: 'NOT_FOUND' },
    });
  });

  // Only with an API key: a hook on every request costs a step even when it has nothing to check.
  if (apiKeys.length > 0) void app.register(apiKeyAuth(apiKeys));

  function resolveModel(requested: string | undefined): string {
    const served = engine.models();
    const model = requested ?? options.defaultModel ?? served[0];
    if (model === undefined) throw new ModelNotFoundError('(none)', 'No model is loaded on this server yet; wait for /ready.');
    if (served.includes(model)) return model;
    if (requested !== undefined && options.defaultModel === undefined && served.length === 0) return model;
    throw new ModelNotFoundError(model, `This server serves: ${served.join(', ') || '(none)'}. Set "model" to one of them.`, { details: { param: 'model' } });
  }

  function parse<T>(schema: { safeParse(value: unknown): { success: true; data: T } | { success: false; error: ZodError } }, body: unknown): T {
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw new InvalidRequestError(`Invalid request: ${describeIssues(parsed.error)}`);
    return parsed.data;
  }

  // This server's `Via` entry. A request whose Via already holds it has come back around a loop
  // (servers forwarding to each other): answer LOOP_DETECTED instead of forwarding it again.
  const hop = `1.1 muai-${randomUUID().slice(0, 8)}`;
  function hopsOf(request: FastifyRequest): string[] {
    const header = request.headers.via;
    const entries = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
    if (entries.includes(hop) || entries.filter((entry) => / muai-/.test(entry)).length >= MAX_MUAI_HOPS) {
      throw new LoopDetectedError(
        `This request has already passed through this server (Via: ${entries.join(', ')}): two MuAI servers forward to each other, or a remote engine endpoint points back here. Point optimization.vllm.endpoints / optimization.deepspeed.endpoints at the real inference server.`,
        { details: { via: entries } },
      );
    }
    return [...entries, hop];
  }

  function prepareCompletion(raw: unknown): Prepared {
    const body = parse(completionBody, raw);
    const model = resolveModel(body.model);
    const prompt = typeof body.prompt === 'string' ? body.prompt : (body.prompt[0] ?? '');
    return { request: { ...generationOptions(body), model, prompt }, model, stream: body.stream === true, includeUsage: body.stream_options?.include_usage === true };
  }

  function withHops(prepared: Prepared, request: FastifyRequest): Prepared {
    prepared.request.via = hopsOf(request);
    return prepared;
  }

  function prepareChat(raw: unknown): Prepared {
    const body = parse(chatBody, raw);
    const model = resolveModel(body.model);
    return { request: { ...generationOptions(body), model, messages: chatMessages(body) }, model, stream: body.stream === true, includeUsage: body.stream_options?.include_usage === true };
  }

  /** Aborts generation when the client goes away before the response ends, or the server stops for good. */
  function abortOnDisconnect(request: FastifyRequest, reply: FastifyReply): AbortController {
    const controller = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) controller.abort(new Error('client disconnected'));
    });
    request.raw.on('aborted', () => controller.abort(new Error('client disconnected')));
    const shutdown = options.shutdownSignal;
    if (shutdown) {
      const stop = () => controller.abort(shutdown.reason);
      if (shutdown.aborted) stop();
      else {
        shutdown.addEventListener('abort', stop, { once: true });
        reply.raw.once('close', () => shutdown.removeEventListener('abort', stop));
      }
    }
    return controller;
  }

  // Admission: generation requests in flight. Beyond the limit a request is refused before it
  // reaches the engine, so that overload is an immediate 429 with Retry-After, not an unbounded queue.
  let inFlight = 0;
  function admit(reply: FastifyReply): void {
    if (options.maxConcurrentRequests !== undefined && inFlight >= options.maxConcurrentRequests) {
      throw new QueueFullError(options.maxConcurrentRequests, { details: { limit: options.maxConcurrentRequests, setting: 'monitoring.server.max_concurrent_requests' } });
    }
    inFlight += 1;
    reply.raw.once('close', () => (inFlight -= 1));
  }

  const sink = combineMetricsSinks([options.metrics]);

  function record(model: string, status: 'ok' | 'error', started: number, result?: { usage: Usage; ttftMs?: number; engine?: string }): void {
    const latencyMs = performance.now() - started;
    const completion = result?.usage.completionTokens ?? 0;
    sink.recordRequest({
      model,
      engine: result?.engine ?? engine.name,
      workflow: 'server',
      status,
      latencyMs,
      ...(result?.ttftMs !== undefined ? { ttftMs: result.ttftMs } : {}),
      ...(result?.ttftMs !== undefined && completion > 1 ? { tpotMs: (latencyMs - result.ttftMs) / (completion - 1) } : {}),
      promptTokens: result?.usage.promptTokens ?? 0,
      completionTokens: completion,
    });
  }

  const tracer = toTracer(options.tracer);

  /** Runs a route inside the SERVER span; 4xx answers are not span errors, 5xx are. */
  async function traceRequest(route: string, request: FastifyRequest, reply: FastifyReply, fn: () => Promise<void>): Promise<void> {
    let clientError: unknown;
    await tracer.traceServerRequest({ method: 'POST', route, requestId: request.id }, async (span: Span): Promise<void> => {
      span.setAttribute('muai.request.id', request.id);
      try {
        await fn();
        span.setAttribute('http.response.status_code', reply.raw.statusCode);
      } catch (error) {
        const { status } = toErrorResponse(error);
        span.setAttribute('http.response.status_code', status);
        span.setAttribute('error.type', MuaiError.isInstance(error) ? error.code : 'INTERNAL');
        if (status >= 500) throw error;
        clientError = error;
      }
    });
    if (clientError !== undefined) throw clientError;
  }

  /** Runs the generation inside a GenAI inference span (`chat default`). */
  function traceInference<T>(kind: CompletionKind, generation: GenerationRequest, fn: (span: Span) => Promise<T>): Promise<T> {
    const info: InferenceSpanInfo = { operation: kind === 'chat' ? 'chat' : 'text_completion', model: generation.model ?? '(default)' };
    if (generation.maxTokens !== undefined) info.maxTokens = generation.maxTokens;
    if (generation.temperature !== undefined) info.temperature = generation.temperature;
    if (generation.topP !== undefined) info.topP = generation.topP;
    return tracer.traceInference(info, fn);
  }

  function recordUsage(span: Span, id: string, model: string, usage: Usage | undefined, finish: FinishReason | undefined, engineUsed: string | undefined): void {
    const facts: GenAiUsage = { responseModel: model, responseId: id, finishReasons: [openAIFinish(finish) ?? finish ?? 'stop'], ...(usage ? { inputTokens: usage.promptTokens, outputTokens: usage.completionTokens } : {}) };
    if (engineUsed !== undefined) span.setAttribute('muai.engine.name', engineUsed);
    tracer.recordUsage(span, facts);
  }

  async function respond(kind: CompletionKind, prepared: Prepared, request: FastifyRequest, reply: FastifyReply, handlerStarted: number): Promise<void> {
    const controller = abortOnDisconnect(request, reply);
    const generation: GenerationRequest = { ...prepared.request, signal: controller.signal };
    const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`;
    const created = now();
    const started = performance.now();
    if (!prepared.stream) {
      let result: GenerationResult;
      let engineMs = 0;
      try {
        result = await traceInference(kind, generation, async (span) => {
          const engineStarted = performance.now();
          const generated = await engine.generate(generation);
          if (generated.finishReason === 'abort' && options.shutdownSignal?.aborted) throw shuttingDown(undefined);
          engineMs = performance.now() - engineStarted;
          recordUsage(span, id, prepared.model, generated.usage, generated.finishReason, generated.engineUsed);
          return generated;
        });
      } catch (error) {
        record(prepared.model, 'error', started);
        throw options.shutdownSignal?.aborted ? shuttingDown(error) : error;
      }
      record(prepared.model, 'ok', started, { usage: result.usage, ttftMs: result.timings.ttftMs, engine: result.engineUsed });
      // W3C Server-Timing: `engine` is the engine call, `handler` the route's whole time (validation,
      // engine call, response body), so that a client can tell what HTTP and the server add to a
      // request (its latency minus `engine`) from generation itself.
      void reply.header('server-timing', `engine;dur=${engineMs.toFixed(3)}, handler;dur=${(performance.now() - handlerStarted).toFixed(3)}`);
      await reply.send(completionResponse(kind, { id, created, model: prepared.model }, result.text, result.finishReason, result.usage));
      return;
    }
    await traceInference(kind, generation, (span) => streamResponse(kind, prepared, generation, { id, created, started, span }, reply));
  }

  async function streamResponse(
    kind: CompletionKind,
    prepared: Prepared,
    generation: GenerationRequest,
    meta: { id: string; created: number; started: number; span: Span },
    reply: FastifyReply,
  ): Promise<void> {
    const iterator = engine.stream(generation)[Symbol.asyncIterator]();
    // Pull the first chunk before committing to 200, so that early errors get a proper status.
    let first: IteratorResult<StreamChunk>;
    try {
      first = await iterator.next();
    } catch (error) {
      record(prepared.model, 'error', meta.started);
      throw error;
    }
    reply.hijack();
    const sse = new SseWriter(reply.raw, kind, { id: meta.id, created: meta.created, model: prepared.model });
    sse.open();
    let usage: Usage | undefined;
    let finish: FinishReason | undefined;
    let ttftMs: number | undefined;
    let engineUsed: string | undefined;
    try {
      for (let step = first; !step.done; step = await iterator.next()) {
        const chunk = step.value;
        if (chunk.text) {
          ttftMs ??= performance.now() - meta.started;
          sse.text(chunk.text);
        }
        if (chunk.usage) usage = chunk.usage;
        engineUsed ??= chunk.engineUsed;
        if (chunk.finishReason) finish = chunk.finishReason;
      }
      // An engine that ends an aborted stream quietly (finish "abort"): at shutdown the client must
      // still learn that its answer was cut.
      if (finish === 'abort' && options.shutdownSignal?.aborted) throw shuttingDown(undefined);
    } catch (error) {
      record(prepared.model, 'error', meta.started);
      const { body } = toErrorResponse(options.shutdownSignal?.aborted ? shuttingDown(error) : error);
      meta.span.setAttribute('error.type', MuaiError.isInstance(error) ? error.code : 'INTERNAL');
      sse.error(body);
      return;
    }
    record(prepared.model, finish === 'error' ? 'error' : 'ok', meta.started, {
      usage: usage ?? { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
      ...(ttftMs !== undefined ? { ttftMs } : {}),
      ...(engineUsed !== undefined ? { engine: engineUsed } : {}),
    });
    recordUsage(meta.span, meta.id, prepared.model, usage, finish, engineUsed);
    sse.finish(finish, usage, prepared.includeUsage);
  }

  app.post('/v1/completions', async (request, reply) => {
    const handlerStarted = performance.now();
    admit(reply);
    return traceRequest('/v1/completions', request, reply, () => respond('completion', withHops(prepareCompletion(request.body), request), request, reply, handlerStarted));
  });
  app.post('/v1/chat/completions', async (request, reply) => {
    const handlerStarted = performance.now();
    admit(reply);
    return traceRequest('/v1/chat/completions', request, reply, () => respond('chat', withHops(prepareChat(request.body), request), request, reply, handlerStarted));
  });
  void app.register(operationalRoutes({ engine, metrics: options.metrics, isReady: options.isReady }));
  for (const plugin of options.plugins ?? []) void app.register(plugin);
  return app;
}
