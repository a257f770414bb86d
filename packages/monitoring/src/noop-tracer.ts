import { INVALID_SPAN_CONTEXT, trace, type Attributes, type Span } from '@opentelemetry/api';
import type {
  BatchSpanInfo,
  EngineCallSpanInfo,
  GenAiUsage,
  InferenceSpanInfo,
  MuaiTracer,
  PromptMessage,
  ServerRequestSpanInfo,
  TracerStats,
} from './tracer-types.js';

/** A non-recording span shared by every no-op call: setting attributes on it does nothing. */
const NOOP_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * The tracer to use when tracing is off: every helper calls `fn` directly with a non-recording
 * span. Nothing is allocated per call, no SDK is loaded.
 */
export class NoopTracer implements MuaiTracer {
  readonly enabled = false;
  readonly recordPrompts = false;

  withSpan<T>(_name: string, _attributes: Attributes | undefined, fn: (span: Span) => T): T {
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
  activeSpan(): Span | undefined {
    return undefined;
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
  stats(): TracerStats {
    return { exportedBatches: 0, exportedSpans: 0, failedExports: 0, droppedSpans: 0, exportsInFlight: 0, lastError: null };
  }
}

/** The shared no-op tracer. */
export const NOOP_TRACER: MuaiTracer = new NoopTracer();
