import type { Attributes, Span, SpanKind } from '@opentelemetry/api';

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
  attributes?: Attributes;
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
  kind?: SpanKind;
  attributes?: Attributes;
}

/** A batch executed by an engine. */
export interface BatchSpanInfo {
  model: string;
  engine?: string;
  /** Requests in the batch. */
  size: number;
  attributes?: Attributes;
}

/** A call into an engine (in-process or over HTTP). */
export interface EngineCallSpanInfo {
  engine: string;
  /** `generate`, `stream`, `infer`, `load`, ... */
  operation: string;
  model?: string;
  /** Span kind. Default CLIENT. */
  kind?: SpanKind;
  attributes?: Attributes;
}

/** What a finished generation reports, recorded with GenAI attribute names. */
export interface GenAiUsage {
  inputTokens?: number;
  outputTokens?: number;
  responseModel?: string;
  responseId?: string;
  finishReasons?: readonly string[];
}

/** Counters of the tracer's own work, for diagnostics. */
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
 * What MuAI code calls to trace. Implemented by OTelTracer (OpenTelemetry SDK) and NoopTracer
 * (nothing at all), so instrumented code never checks whether tracing is on.
 */
export interface MuaiTracer {
  /** False for the no-op tracer. */
  readonly enabled: boolean;
  /** Whether prompt and completion text may be recorded. */
  readonly recordPrompts: boolean;
  /**
   * Runs `fn` inside a new span that is the active span for everything `fn` starts (also across
   * awaits). Ends the span when `fn` returns or its promise settles; an exception marks the span
   * as an error and is rethrown. Returns what `fn` returns.
   */
  withSpan<T>(name: string, attributes: Attributes | undefined, fn: (span: Span) => T, options?: { kind?: SpanKind }): T;
  /** Span `workflow {name}` (the seed's `trace_workflow`). */
  traceWorkflow<T>(name: string, fn: (span: Span) => T, attributes?: Attributes): T;
  /** SERVER span `{method} {route}`. */
  traceServerRequest<T>(info: ServerRequestSpanInfo, fn: (span: Span) => T): T;
  /** Span `orchestrator.execute`. */
  traceOrchestrator<T>(fn: (span: Span) => T, attributes?: Attributes): T;
  /** GenAI inference span `{operation} {model}` with gen_ai.request.* attributes. */
  traceInference<T>(info: InferenceSpanInfo, fn: (span: Span) => T): T;
  /** Span `batch {model}` with muai.batch.size. */
  traceBatch<T>(info: BatchSpanInfo, fn: (span: Span) => T): T;
  /** CLIENT span `{engine} {operation}`. */
  traceEngineCall<T>(info: EngineCallSpanInfo, fn: (span: Span) => T): T;
  /** Sets gen_ai.usage.* and gen_ai.response.* on a span. */
  recordUsage(span: Span, usage: GenAiUsage): void;
  /** Records prompt text or messages on a span, only when `recordPrompts` is on. */
  recordPrompt(span: Span, prompt: string | readonly PromptMessage[]): void;
  /** Records generated text on a span, only when `recordPrompts` is on. */
  recordCompletion(span: Span, text: string): void;
  /** The active span of this tracer, if any. */
  activeSpan(): Span | undefined;
  /** Exports what is buffered; bounded by the export timeout; never rejects. */
  forceFlush(): Promise<void>;
  /** Flushes and stops; bounded by the shutdown timeout; never rejects. */
  shutdown(): Promise<void>;
  stats(): TracerStats;
}
