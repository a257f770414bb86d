import { AsyncLocalStorage } from 'node:async_hooks';
import { NOOP_SPAN, SpanKind } from '@muai/core';
import type { Engine, GenerationRequest, GenerationResult, MetricsSink, Span, SpanAttributes, SpanKindValue, Tracer } from '@muai/core';

/** How the OptimizationManager traces its engine attempts. */
export interface TraceSpec<T> {
  /** Engine operation of the span name: `generate`, `stream`, `infer`. */
  operation: string;
  /** Attributes known once the attempt succeeded (token usage). */
  onValue?: (span: Span, value: T) => void;
  /** Keeps the span open after the attempt succeeded, until the promise settles (streams). */
  holdOpen?: (value: T) => Promise<void>;
  /** Called once the span of a successful attempt has ended (after `holdOpen`). */
  ended?: (value: T) => void;
}

/** Span kind: INTERNAL for the in-process engine, CLIENT for an engine behind HTTP. */
const spanKind = (engine: string): SpanKindValue => (engine === 'onnx' ? SpanKind.INTERNAL : SpanKind.CLIENT);

const ATTEMPT = 'muai.engine.attempt';
const FALLBACK_REASON = 'muai.engine.fallback_reason';
const FALLBACK_TO = 'muai.engine.fallback_to';
const BATCH_SIZE = 'muai.batch.size';

/** One engine attempt as `traceEngineAttempt` runs it. */
export interface EngineAttempt<T> {
  engine: string;
  model: string;
  /** 1 for the first engine tried, 2 after one fallback, ... */
  attempt: number;
  trace: TraceSpec<T>;
  body: (span: Span) => Promise<T>;
  /** Where a failure falls back to (recorded on the span), or undefined when it ends the request. */
  fallback: (error: unknown) => { reason: string; to: string } | undefined;
  /** Runs `onValue` so that a failing span attribute never fails the request. */
  guard: (what: string, fn: () => void) => void;
}

/**
 * Runs one engine attempt inside span `{engine} {operation}` (attempt number; on a failure that
 * falls back, the reason and the next engine; the tracer marks the error). Resolves with the
 * attempt's value as soon as it is there; with `holdOpen` the span stays open until that settles.
 * A tracer that fails before running the attempt costs the tracing, never the request.
 */
export function traceEngineAttempt<T>(tracer: Tracer, { engine, model, attempt, trace, body, fallback, guard }: EngineAttempt<T>): Promise<T> {
  const detached = async (value: T): Promise<T> => {
    // The tracer failed before running the attempt: still drive what holdOpen drives.
    if (trace.holdOpen) {
      void trace
        .holdOpen(value)
        .catch(() => undefined)
        .then(() => trace.ended?.(value));
    } else trace.ended?.(value);
    return value;
  };
  return new Promise<T>((resolve, reject) => {
    let delivered = false;
    let deliveredValue: T | undefined;
    let attemptDone: Promise<void> | undefined;
    const fn = (span: Span): Promise<void> => (attemptDone = runAttempt(span));
    const runAttempt = async (span: Span): Promise<void> => {
      let value: T;
      try {
        value = await body(span);
      } catch (error) {
        const next = fallback(error);
        if (next) {
          span.setAttribute(FALLBACK_REASON, next.reason);
          span.setAttribute(FALLBACK_TO, next.to);
        }
        throw error;
      }
      if (trace.onValue) guard('tracer span attributes', () => trace.onValue?.(span, value));
      delivered = true;
      deliveredValue = value;
      resolve(value);
      if (trace.holdOpen) await trace.holdOpen(value);
    };
    const attributes: SpanAttributes = { [ATTEMPT]: attempt };
    let spanned: unknown;
    try {
      spanned = tracer.traceEngineCall({ engine, operation: trace.operation, model, kind: spanKind(engine), attributes }, fn);
    } catch (error) {
      spanned = Promise.reject(error);
    }
    // Settles once both the attempt and the tracer's span are done (the span has ended by then).
    void Promise.allSettled([spanned, attemptDone]).then(async () => {
      if (!attemptDone) return body(NOOP_SPAN).then(detached).then(resolve, reject);
      if (delivered) return trace.ended?.(deliveredValue as T);
      return attemptDone.then(() => undefined, reject);
    });
  });
}

/** A request waiting in a batcher: where its engine span is, to parent and annotate the batch span. */
interface BatchMember {
  /** Runs a function in the async context the request was submitted from (AsyncLocalStorage.snapshot). */
  inContext: <R>(fn: () => R) => R;
  span: Span;
}

/**
 * Batch spans and batch-size metrics. One batch serves many requests and the tracer takes no span
 * links, so the batch span `batch {model}` is a child of the engine span of the FIRST request in the
 * batch (run in the async context that request was submitted from); every member's engine span
 * gets `muai.batch.size`. Members are remembered only while tracing (a context snapshot per request
 * costs nothing then).
 */
export class BatchSpans {
  private readonly members = new WeakMap<GenerationRequest, BatchMember>();

  constructor(
    private readonly tracer: Tracer,
    private readonly metrics: MetricsSink,
  ) {}

  /** Remembers where `request`'s engine span is, before it is submitted to the batcher. */
  remember(request: GenerationRequest, span: Span): void {
    if (this.tracer.enabled) this.members.set(request, { inContext: AsyncLocalStorage.snapshot(), span });
  }

  /** The batcher's batchFn: `engine.generateBatch`, inside the batch span. */
  dispatch(engine: Engine, engineName: string, model: string, inputs: readonly GenerationRequest[]): Promise<Array<GenerationResult | Error>> {
    this.metrics.recordBatch({ size: inputs.length, model, engine: engineName });
    const first = inputs[0] === undefined ? undefined : this.members.get(inputs[0]);
    if (!first) return engine.generateBatch(inputs);
    for (const input of inputs) this.members.get(input)?.span.setAttribute(BATCH_SIZE, inputs.length);
    return first.inContext(() => this.tracer.traceBatch({ model, engine: engineName, size: inputs.length }, () => engine.generateBatch(inputs)));
  }
}
