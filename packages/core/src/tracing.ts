/**
 * The tracing contract, like `@opentelemetry/api`: instrumented code calls a `Tracer`
 * unconditionally; `NOOP_TRACER` does nothing when tracing is off, and @muai/monitoring's
 * `OTelTracer` implements it with the OpenTelemetry SDK. An OpenTelemetry `Span` fits `Span`.
 */

export type SpanAttributeValue = string | number | boolean;
export type SpanAttributes = Record<string, SpanAttributeValue>;

/** OpenTelemetry span kinds, by number (the values of `@opentelemetry/api`'s `SpanKind`). */
export const SpanKind = { INTERNAL: 0, SERVER: 1, CLIENT: 2, PRODUCER: 3, CONSUMER: 4 } as const;
export type SpanKindValue = (typeof SpanKind)[keyof typeof SpanKind];

/** A span handle as a tracer passes it to the traced function. */
export interface Span {
  setAttribute(key: string, value: SpanAttributeValue): unknown;
}

/** A message of a chat prompt, as recorded on spans when `recordPrompts` is on. */
export interface PromptMessage {
  role: string;
  content: string;
}

/** The incoming HTTP request of a server span. */
export interface ServerRequestSpanInfo {
  /** HTTP method, e.g. `POST`. */
  method: string;
  /** Route template (never the raw URL with its query), e.g. `/v1/chat/completions`. */
  route: string;
  /** Request id, when the server assigns one. */
  requestId?: string;
  attributes?: SpanAttributes;
}

/** A model inference (GenAI "inference" span: name `{operation} {model}`). */
export interface InferenceSpanInfo {
  /** gen_ai.operation.name: `chat`, `text_completion`, `embeddings`, ... Default `text_completion`. */
  operation?: string;
  /** gen_ai.request.model. */
  model: string;
  /** Engine serving it (`onnx`, `vllm`, `deepspeed`). Also the default gen_ai.provider.name. */
  engine?: string;
  /** gen_ai.provider.name. Default: the engine name, else `muai`. */
  provider?: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  /** Prompt text or chat messages; recorded only when the tracer's `recordPrompts` is on. */
  prompt?: string | readonly PromptMessage[];
  /** Span kind. Default INTERNAL (in-process); use CLIENT for a remote engine. */
  kind?: SpanKindValue;
  attributes?: SpanAttributes;
}

/** A batch executed by an engine: span `batch {model}`. */
export interface BatchSpanInfo {
  model: string;
  engine?: string;
  /** Requests in the batch. */
  size: number;
  attributes?: SpanAttributes;
}

/** A call into an engine (in-process or over HTTP): span `{engine} {operation}`. */
export interface EngineCallSpanInfo {
  engine: string;
  /** `generate`, `stream`, `infer`, `load`, ... */
  operation: string;
  model?: string;
  /** Span kind. Default CLIENT; INTERNAL for the in-process engine. */
  kind?: SpanKindValue;
  attributes?: SpanAttributes;
}

/** What a finished generation reports, recorded with GenAI attribute names. */
export interface GenAiUsage {
  inputTokens?: number;
  outputTokens?: number;
  responseModel?: string;
  responseId?: string;
  finishReasons?: readonly string[];
}

/** Counters of a tracer's own work, for diagnostics. */
export interface TracerStats {
  /** Batches handed to the exporter and acknowledged. */
  exportedBatches: number;
  exportedSpans: number;
  /** Batches that failed (collector down, timeout, rejected). Their spans are dropped. */
  failedExports: number;
  droppedSpans: number;
  /** Batches being exported right now. */
  exportsInFlight: number;
  /** Last export error message, if any. */
  lastError: string | null;
}

/**
 * What MuAI code calls to trace. Every `trace*` helper runs `fn` inside a new span that is the
 * active span for everything `fn` starts (also across awaits), ends it when `fn` returns or its
 * promise settles, marks a thrown error on the span and rethrows it, and returns what `fn` returns.
 */
export interface Tracer {
  /** False for the no-op tracer (callers may skip work that only feeds spans, e.g. context snapshots). */
  readonly enabled: boolean;
  /** Whether prompt and completion text may be recorded. */
  readonly recordPrompts: boolean;
  withSpan<T>(name: string, attributes: SpanAttributes | undefined, fn: (span: Span) => T, options?: { kind?: SpanKindValue }): T;
  /** Span `workflow {name}` (the seed's `trace_workflow`). */
  traceWorkflow<T>(name: string, fn: (span: Span) => T, attributes?: SpanAttributes): T;
  /** SERVER span `{method} {route}`. */
  traceServerRequest<T>(info: ServerRequestSpanInfo, fn: (span: Span) => T): T;
  /** Span `orchestrator.execute`. */
  traceOrchestrator<T>(fn: (span: Span) => T, attributes?: SpanAttributes): T;
  /** GenAI inference span `{operation} {model}` with gen_ai.request.* attributes. */
  traceInference<T>(info: InferenceSpanInfo, fn: (span: Span) => T): T;
  /** Span `batch {model}` with muai.batch.size. */
  traceBatch<T>(info: BatchSpanInfo, fn: (span: Span) => T): T;
  /** Span `{engine} {operation}`. */
  traceEngineCall<T>(info: EngineCallSpanInfo, fn: (span: Span) => T): T;
  /** Sets gen_ai.usage.* and gen_ai.response.* on a span. */
  recordUsage(span: Span, usage: GenAiUsage): void;
  /** Records prompt text or messages on a span, only when `recordPrompts` is on. */
  recordPrompt(span: Span, prompt: string | readonly PromptMessage[]): void;
  /** Records generated text on a span, only when `recordPrompts` is on. */
  recordCompletion(span: Span, text: string): void;
  /** Exports what is buffered; bounded; never rejects. */
  forceFlush(): Promise<void>;
  /** Flushes and stops; bounded; never rejects. */
  shutdown(): Promise<void>;
  stats(): TracerStats;
}

/** A non-recording span shared by every no-op call. */
export const NOOP_SPAN: Span = Object.freeze({ setAttribute: () => NOOP_SPAN });

const EMPTY_STATS: TracerStats = Object.freeze({ exportedBatches: 0, exportedSpans: 0, failedExports: 0, droppedSpans: 0, exportsInFlight: 0, lastError: null });

/** The tracer to use when tracing is off: every helper calls `fn` directly. Nothing is allocated per call. */
export class NoopTracer implements Tracer {
  readonly enabled = false;
  readonly recordPrompts = false;
  withSpan<T>(_name: string, _attributes: SpanAttributes | undefined, fn: (span: Span) => T): T {
    return fn(NOOP_SPAN);
  }
  traceWorkflow<T>(_name: string, fn: (span: Span) => T): T {
    return fn(NOOP_SPAN);
  }
  traceServerRequest<T>(_info: ServerRequestSpanInfo, fn: (span: Span) => T): T {
    return fn(NOOP_SPAN);
  }
  traceOrchestrator<T>(fn: (span: Span) => T): T {
    return fn(NOOP_SPAN);
  }
  traceInference<T>(_info: InferenceSpanInfo, fn: (span: Span) => T): T {
    return fn(NOOP_SPAN);
  }
  traceBatch<T>(_info: BatchSpanInfo, fn: (span: Span) => T): T {
    return fn(NOOP_SPAN);
  }
  traceEngineCall<T>(_info: EngineCallSpanInfo, fn: (span: Span) => T): T {
    return fn(NOOP_SPAN);
  }
  recordUsage(_span: Span, _usage: GenAiUsage): void {}
  recordPrompt(_span: Span, _prompt: string | readonly PromptMessage[]): void {}
  recordCompletion(_span: Span, _text: string): void {}
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
  stats(): TracerStats {
    return { ...EMPTY_STATS };
  }
}

/** The shared no-op tracer. */
export const NOOP_TRACER: Tracer = new NoopTracer();

/**
 * What APIs accept as a tracer: any part of `Tracer`. The seed's tracers had only
 * `traceWorkflow(name, fn)` and called `fn()` without a span, so `traceWorkflow` and `withSpan`
 * may do that here too.
 */
export type TracerInput = Omit<Partial<Tracer>, 'traceWorkflow' | 'withSpan'> & {
  traceWorkflow?<T>(name: string, fn: (span?: Span) => T, attributes?: SpanAttributes): T;
  withSpan?<T>(name: string, attributes: SpanAttributes | undefined, fn: (span?: Span) => T, options?: { kind?: SpanKindValue }): T;
};

/**
 * A complete Tracer from a partial one: missing helpers fall back to the tracer's `withSpan` when
 * it has one, else to running `fn` directly. `undefined` gives NOOP_TRACER.
 */
export function toTracer(partial: TracerInput | undefined): Tracer {
  if (partial === undefined) return NOOP_TRACER;
  if (partial instanceof NoopTracer || isComplete(partial)) return partial as unknown as Tracer;
  const withSpan = <T>(name: string, attributes: SpanAttributes | undefined, fn: (span: Span) => T, options?: { kind?: SpanKindValue }): T =>
    partial.withSpan ? partial.withSpan(name, attributes, (span) => fn(span ?? NOOP_SPAN), options) : fn(NOOP_SPAN);
  const noop = NOOP_TRACER;
  return {
    enabled: partial.enabled ?? true,
    recordPrompts: partial.recordPrompts ?? false,
    withSpan,
    traceWorkflow: (name, fn, attributes) => (partial.traceWorkflow ? partial.traceWorkflow(name, (span) => fn(span ?? NOOP_SPAN), attributes) : withSpan(`workflow ${name}`, attributes, fn)),
    traceServerRequest: (info, fn) =>
      partial.traceServerRequest
        ? partial.traceServerRequest(info, fn)
        : withSpan(`${info.method} ${info.route}`, { 'http.request.method': info.method, 'http.route': info.route, ...info.attributes }, fn, { kind: SpanKind.SERVER }),
    traceOrchestrator: (fn, attributes) => (partial.traceOrchestrator ? partial.traceOrchestrator(fn, attributes) : withSpan('orchestrator.execute', attributes, fn)),
    traceInference: (info, fn) => {
      if (partial.traceInference) return partial.traceInference(info, fn);
      const operation = info.operation ?? 'text_completion';
      const attributes: SpanAttributes = { 'gen_ai.operation.name': operation, 'gen_ai.request.model': info.model, ...info.attributes };
      if (info.maxTokens !== undefined) attributes['gen_ai.request.max_tokens'] = info.maxTokens;
      return withSpan(`${operation} ${info.model}`, attributes, fn);
    },
    traceBatch: (info, fn) => (partial.traceBatch ? partial.traceBatch(info, fn) : withSpan(`batch ${info.model}`, { 'gen_ai.request.model': info.model, 'muai.batch.size': info.size, ...info.attributes }, fn)),
    traceEngineCall: (info, fn) =>
      partial.traceEngineCall
        ? partial.traceEngineCall(info, fn)
        : withSpan(`${info.engine} ${info.operation}`, { 'muai.engine.name': info.engine, 'muai.engine.operation': info.operation, ...(info.model ? { 'gen_ai.request.model': info.model } : {}), ...info.attributes }, fn, info.kind === undefined ? undefined : { kind: info.kind }),
    recordUsage: (span, usage) => {
      if (partial.recordUsage) partial.recordUsage(span, usage);
      else {
        if (usage.inputTokens !== undefined) span.setAttribute('gen_ai.usage.input_tokens', usage.inputTokens);
        if (usage.outputTokens !== undefined) span.setAttribute('gen_ai.usage.output_tokens', usage.outputTokens);
        if (usage.responseModel !== undefined) span.setAttribute('gen_ai.response.model', usage.responseModel);
        if (usage.responseId !== undefined) span.setAttribute('gen_ai.response.id', usage.responseId);
        if (usage.finishReasons !== undefined) span.setAttribute('gen_ai.response.finish_reasons', usage.finishReasons.join(','));
      }
    },
    recordPrompt: (span, prompt) => (partial.recordPrompt ?? noop.recordPrompt)(span, prompt),
    recordCompletion: (span, text) => (partial.recordCompletion ?? noop.recordCompletion)(span, text),
    forceFlush: () => (partial.forceFlush ? partial.forceFlush() : Promise.resolve()),
    shutdown: () => (partial.shutdown ? partial.shutdown() : Promise.resolve()),
    stats: () => (partial.stats ? partial.stats() : noop.stats()),
  };
}

const TRACER_METHODS = ['withSpan', 'traceWorkflow', 'traceServerRequest', 'traceOrchestrator', 'traceInference', 'traceBatch', 'traceEngineCall', 'recordUsage', 'recordPrompt', 'recordCompletion', 'forceFlush', 'shutdown', 'stats'] as const;

function isComplete(partial: TracerInput): boolean {
  return typeof partial.enabled === 'boolean' && TRACER_METHODS.every((method) => typeof partial[method] === 'function');
}
