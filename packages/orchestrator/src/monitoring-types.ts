/**
 * Small structural interfaces for the monitoring components the orchestrator talks to. The classes of
 * @muai/monitoring (PrometheusExporter, OTelTracer, PerformanceMonitor) fit them, and so does any
 * object of your own: there is no hard dependency. Every call the orchestrator makes on them is
 * guarded so that a failing sink never fails a request.
 */

/** Outcome of one orchestrated request, as given to metrics and the performance monitor. Times in ms. */
export interface RequestRecord {
  model: string;
  engine: string;
  workflow: string;
  /** `ok`, `error`, or `aborted` (the caller cancelled). */
  status: 'ok' | 'error' | 'aborted';
  /** Wall time of the whole request. */
  latencyMs: number;
  /** Time to first token, when known. */
  ttftMs?: number;
  /** Mean time per output token after the first, when known. */
  tpotMs?: number;
  promptTokens: number;
  completionTokens: number;
  /** The MuaiError code when status is not `ok`. Not a metric label. */
  errorCode?: string;
}

/** A counted fallback from one engine to the next (`reason`: `not_installed`, `unreachable`, or an error code). */
export interface FallbackRecord {
  from: string;
  to: string;
  reason: string;
  model?: string;
}

/** A metrics sink, e.g. @muai/monitoring's `PrometheusExporter`. */
export interface MetricsSink {
  recordRequest(record: RequestRecord): void;
}

/** Receives engine fallbacks, e.g. @muai/monitoring's `PrometheusExporter`. */
export interface FallbackSink {
  recordFallback(from: string, to: string, reason: string): void;
}

/** A span handle as the tracer passes it to the traced function. */
export interface SpanLike {
  setAttribute?(key: string, value: string | number | boolean): unknown;
}

export type SpanAttributes = Record<string, string | number | boolean>;

/** What a model inference span is told (GenAI conventions). */
export interface InferenceSpanDescription {
  model: string;
  operation?: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
}

/** What an engine-call span is told: span `{engine} {operation}`. */
export interface EngineCallSpanDescription {
  engine: string;
  /** `generate`, `stream`, `infer`. */
  operation: string;
  model?: string;
  /** OpenTelemetry SpanKind number: 0 INTERNAL (the in-process engine), 2 CLIENT (an engine behind HTTP). */
  kind?: number;
  attributes?: SpanAttributes;
}

/** What a batch span is told: span `batch {model}`. */
export interface BatchSpanDescription {
  model: string;
  engine?: string;
  /** Requests in the batch. */
  size: number;
  attributes?: SpanAttributes;
}

/**
 * A tracer, e.g. @muai/monitoring's `OTelTracer`. Each method runs `fn` inside a span and ends the span
 * when `fn`'s promise settles (recording a rejection as an error). Only `traceWorkflow` is required.
 */
export interface TracerLike {
  /** Span of a workflow run (the seed's `trace_workflow`). */
  traceWorkflow<T>(name: string, fn: (span?: SpanLike) => T): T;
  /** A generic child span. */
  withSpan?<T>(name: string, attributes: SpanAttributes | undefined, fn: (span?: SpanLike) => T): T;
  /** The `orchestrator.execute` span. */
  traceOrchestrator?<T>(fn: (span?: SpanLike) => T, attributes?: SpanAttributes): T;
  /** A model inference span. */
  traceInference?<T>(info: InferenceSpanDescription, fn: (span?: SpanLike) => T): T;
  /** A call into an engine (one per attempt; the OptimizationManager's fallback makes more). */
  traceEngineCall?<T>(info: EngineCallSpanDescription, fn: (span?: SpanLike) => T): T;
  /** A batch dispatched by the batcher to `engine.generateBatch`. */
  traceBatch?<T>(info: BatchSpanDescription, fn: (span?: SpanLike) => T): T;
  /** Adds token usage to an inference span. */
  recordUsage?(span: SpanLike, usage: { inputTokens?: number; outputTokens?: number; responseModel?: string; finishReasons?: readonly string[] }): void;
}

/** A performance monitor, e.g. @muai/monitoring's `PerformanceMonitor`. */
export interface PerformanceMonitorLike {
  recordRequest(record: RequestRecord): void;
  /** A snapshot of the rolling windows; handed to the anomaly detector after every request. */
  snapshot?(): unknown;
}

/** An anomaly detector. Sees the performance monitor's snapshot (or the request record) after every request. */
export interface AnomalyDetectorLike {
  observe(snapshot: unknown): unknown;
}
