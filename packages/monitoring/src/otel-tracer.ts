import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  SpanKind,
  SpanStatusCode,
  context as apiContext,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import { ConfigInvalidError, DependencyMissingError, NoopTracer } from '@muai/core';
import type { ConfigProblem } from '@muai/core';
import { CONTENT_ATTRIBUTES, GEN_AI_ATTRIBUTES as GEN_AI, MUAI_ATTRIBUTES as MUAI } from './gen-ai-attributes.js';
import { ResilientExporter } from './internal/resilient-exporter.js';
import type {
  BatchSpanInfo,
  EngineCallSpanInfo,
  GenAiUsage,
  InferenceSpanInfo,
  Tracer as MuaiTracer,
  PromptMessage,
  ServerRequestSpanInfo,
  SpanKindValue,
  TracerStats,
} from '@muai/core';

/** OTLP transport. `'http'` means OTLP/HTTP with protobuf bodies; `'http/json'` with JSON bodies. */
export type OtlpProtocol = 'grpc' | 'http' | 'http/protobuf' | 'http/json';

export interface OTelTracerOptions {
  /** service.name of the resource. Default `'muai'`. */
  serviceName?: string;
  /** service.version of the resource. Default none. */
  serviceVersion?: string;
  /** More resource attributes (deployment.environment.name, host.name, ...). */
  resourceAttributes?: Attributes;
  /** OTLP transport. Default `'grpc'`. */
  protocol?: OtlpProtocol;
  /**
   * Collector endpoint. Default `http://localhost:4317` for gRPC and
   * `http://localhost:4318/v1/traces` for HTTP (the full URL, path included).
   */
  endpoint?: string;
  /** Extra HTTP headers (HTTP protocols only), e.g. an auth token. */
  headers?: Readonly<Record<string, string>>;
  /** Fraction of new traces sampled, 0..1 (children follow their parent). Default 1. */
  sampleRate?: number;
  /** Record prompt and completion text on spans. Default false: content attributes are dropped. */
  recordPrompts?: boolean;
  /** Also emit the deprecated `gen_ai.system` next to `gen_ai.provider.name`. Default false. */
  legacyGenAiSystem?: boolean;
  /** Longest one export may take before it counts as failed, ms. Default 5000. */
  exportTimeoutMs?: number;
  /** Longest `shutdown()` (and `forceFlush()`) may take, ms. Default 5000. */
  shutdownTimeoutMs?: number;
  /** Delay between batch exports, ms. Default 1000. */
  scheduledDelayMs?: number;
  /** Spans kept waiting for export; more are dropped (never blocking a request). Default 2048. */
  maxQueueSize?: number;
  /** Spans per export. Default 512. */
  maxExportBatchSize?: number;
  /** Register this tracer's provider and context manager as the process-wide OpenTelemetry globals. Default false. */
  registerGlobal?: boolean;
  /** Use this exporter instead of OTLP (tests, custom backends). `protocol`/`endpoint` are then ignored. */
  exporter?: SpanExporter;
  /**
   * Called when an export fails. Default: one `console.warn` per minute at most, with the count
   * of failed exports. Never called on the request path.
   */
  onExportError?: (error: Error, stats: TracerStats) => void;
}

/** Options of `createTracer`: the tracer's, plus a switch that returns the no-op tracer. */
export interface CreateTracerOptions extends OTelTracerOptions {
  /** Default true. False returns the zero-cost NoopTracer. */
  enabled?: boolean;
}

const DEFAULT_ENDPOINTS = { grpc: 'http://localhost:4317', http: 'http://localhost:4318/v1/traces' } as const;

/**
 * OpenTelemetry tracing for MuAI, with a tracer provider of its own (not the global one unless
 * `registerGlobal`), batch export over OTLP, and helpers for MuAI's span kinds with GenAI
 * semantic-convention attributes. Export happens in the background: a slow or unreachable
 * collector never delays or fails the traced code.
 */
export class OTelTracer implements MuaiTracer {
  readonly enabled = true;
  readonly recordPrompts: boolean;
  /** The SDK provider (for adding processors or reading configuration). */
  readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  private readonly contextManager: AsyncLocalStorageContextManager;
  private readonly exporter: ResilientExporter;
  private readonly legacyGenAiSystem: boolean;
  private readonly shutdownTimeoutMs: number;
  private shutdownPromise: Promise<void> | undefined;

  constructor(options: OTelTracerOptions = {}) {
    const sampleRate = options.sampleRate ?? 1;
    const protocol = options.protocol ?? 'grpc';
    const problems: ConfigProblem[] = [];
    if (!(sampleRate >= 0 && sampleRate <= 1)) {
      problems.push({ path: 'sampleRate', value: sampleRate, expected: 'Tracing sample rate is out of range. Use a number from 0 to 1 (MUAI_MON_TRACING_SAMPLE_RATE)' });
    }
    if (!['grpc', 'http', 'http/protobuf', 'http/json'].includes(protocol)) {
      problems.push({ path: 'protocol', value: protocol, expected: 'OTLP protocol is not supported. Use "grpc", "http" (protobuf) or "http/json"' });
    }
    if (problems.length > 0) throw new ConfigInvalidError(problems, { details: { sampleRate, protocol } });
    this.recordPrompts = options.recordPrompts ?? false;
    this.legacyGenAiSystem = options.legacyGenAiSystem ?? false;
    this.shutdownTimeoutMs = options.shutdownTimeoutMs ?? 5_000;
    const exportTimeoutMs = options.exportTimeoutMs ?? 5_000;

    const custom = options.exporter;
    const endpoint = options.endpoint ?? (protocol === 'grpc' ? DEFAULT_ENDPOINTS.grpc : DEFAULT_ENDPOINTS.http);
    const headers = options.headers ? { ...options.headers } : undefined;
    const load = custom ? () => Promise.resolve(custom) : () => loadOtlpExporter(protocol, endpoint, exportTimeoutMs, headers);
    this.exporter = new ResilientExporter(load, exportTimeoutMs, options.onExportError ?? defaultExportErrorLog(endpoint));

    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({
        [ATTR_SERVICE_NAME]: options.serviceName ?? 'muai',
        ...(options.serviceVersion ? { [ATTR_SERVICE_VERSION]: options.serviceVersion } : {}),
        ...options.resourceAttributes,
      }),
      sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(sampleRate) }),
      forceFlushTimeoutMillis: this.shutdownTimeoutMs,
      spanProcessors: [
        new BatchSpanProcessor(this.exporter, {
          // The wrapper enforces the export timeout itself; the processor's is a backstop.
          exportTimeoutMillis: exportTimeoutMs + 1_000,
          scheduledDelayMillis: options.scheduledDelayMs ?? 1_000,
          maxQueueSize: options.maxQueueSize ?? 2_048,
          maxExportBatchSize: options.maxExportBatchSize ?? 512,
        }),
      ],
    });
    this.tracer = this.provider.getTracer('@muai/monitoring');
    this.contextManager = new AsyncLocalStorageContextManager();
    this.contextManager.enable();
    if (options.registerGlobal) {
      apiContext.setGlobalContextManager(this.contextManager);
      trace.setGlobalTracerProvider(this.provider);
    }
  }

  withSpan<T>(name: string, attributes: Attributes | undefined, fn: (span: Span) => T, options: { kind?: SpanKind | SpanKindValue } = {}): T {
    const parent = this.parentContext();
    const span = this.tracer.startSpan(
      name,
      { kind: (options.kind ?? SpanKind.INTERNAL) as SpanKind, attributes: attributes ? this.filter(attributes) : {} },
      parent,
    );
    const active = trace.setSpan(parent, span);
    let result: T;
    try {
      result = this.contextManager.with(active, fn, undefined, span);
    } catch (error) {
      failSpan(span, error);
      span.end();
      throw error;
    }
    if (isPromiseLike(result)) {
      return Promise.resolve(result).then(
        (value) => {
          span.end();
          return value;
        },
        (error: unknown) => {
          failSpan(span, error);
          span.end();
          throw error;
        },
      ) as T;
    }
    span.end();
    return result;
  }

  traceWorkflow<T>(name: string, fn: (span: Span) => T, attributes?: Attributes): T {
    return this.withSpan(`workflow ${name}`, { [MUAI.WORKFLOW_NAME]: name, ...attributes }, fn);
  }

  traceServerRequest<T>(info: ServerRequestSpanInfo, fn: (span: Span) => T): T {
    return this.withSpan(
      `${info.method} ${info.route}`,
      {
        'http.request.method': info.method,
        'http.route': info.route,
        ...(info.requestId ? { [MUAI.REQUEST_ID]: info.requestId } : {}),
        ...info.attributes,
      },
      fn,
      { kind: SpanKind.SERVER },
    );
  }

  traceOrchestrator<T>(fn: (span: Span) => T, attributes?: Attributes): T {
    return this.withSpan('orchestrator.execute', attributes, fn);
  }

  traceInference<T>(info: InferenceSpanInfo, fn: (span: Span) => T): T {
    const operation = info.operation ?? 'text_completion';
    const provider = info.provider ?? info.engine ?? 'muai';
    const attributes: Attributes = {
      [GEN_AI.OPERATION_NAME]: operation,
      [GEN_AI.REQUEST_MODEL]: info.model,
      [GEN_AI.PROVIDER_NAME]: provider,
      ...(this.legacyGenAiSystem ? { [GEN_AI.SYSTEM]: provider } : {}),
      ...(info.engine ? { [MUAI.ENGINE_NAME]: info.engine } : {}),
      ...(info.maxTokens !== undefined ? { [GEN_AI.REQUEST_MAX_TOKENS]: info.maxTokens } : {}),
      ...(info.temperature !== undefined ? { [GEN_AI.REQUEST_TEMPERATURE]: info.temperature } : {}),
      ...(info.topP !== undefined ? { [GEN_AI.REQUEST_TOP_P]: info.topP } : {}),
      ...info.attributes,
    };
    if (this.recordPrompts && info.prompt !== undefined) attributes[GEN_AI.INPUT_MESSAGES] = promptJson(info.prompt);
    return this.withSpan(`${operation} ${info.model}`, attributes, fn, { kind: info.kind ?? SpanKind.INTERNAL });
  }

  traceBatch<T>(info: BatchSpanInfo, fn: (span: Span) => T): T {
    return this.withSpan(
      `batch ${info.model}`,
      {
        [GEN_AI.REQUEST_MODEL]: info.model,
        [MUAI.BATCH_SIZE]: info.size,
        ...(info.engine ? { [MUAI.ENGINE_NAME]: info.engine } : {}),
        ...info.attributes,
      },
      fn,
    );
  }

  traceEngineCall<T>(info: EngineCallSpanInfo, fn: (span: Span) => T): T {
    return this.withSpan(
      `${info.engine} ${info.operation}`,
      {
        [MUAI.ENGINE_NAME]: info.engine,
        [MUAI.ENGINE_OPERATION]: info.operation,
        ...(info.model ? { [GEN_AI.REQUEST_MODEL]: info.model } : {}),
        ...info.attributes,
      },
      fn,
      { kind: info.kind ?? SpanKind.CLIENT },
    );
  }

  recordUsage(span: Span, usage: GenAiUsage): void {
    if (usage.inputTokens !== undefined) span.setAttribute(GEN_AI.USAGE_INPUT_TOKENS, usage.inputTokens);
    if (usage.outputTokens !== undefined) span.setAttribute(GEN_AI.USAGE_OUTPUT_TOKENS, usage.outputTokens);
    if (usage.responseModel !== undefined) span.setAttribute(GEN_AI.RESPONSE_MODEL, usage.responseModel);
    if (usage.responseId !== undefined) span.setAttribute(GEN_AI.RESPONSE_ID, usage.responseId);
    if (usage.finishReasons !== undefined) span.setAttribute(GEN_AI.RESPONSE_FINISH_REASONS, [...usage.finishReasons]);
  }

  recordPrompt(span: Span, prompt: string | readonly PromptMessage[]): void {
    if (this.recordPrompts) span.setAttribute(GEN_AI.INPUT_MESSAGES, promptJson(prompt));
  }

  recordCompletion(span: Span, text: string): void {
    if (this.recordPrompts) {
      span.setAttribute(GEN_AI.OUTPUT_MESSAGES, JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content: text }] }]));
    }
  }

  activeSpan(): Span | undefined {
    return trace.getSpan(this.contextManager.active());
  }

  async forceFlush(): Promise<void> {
    await withTimeout(this.provider.forceFlush().catch(() => undefined), this.shutdownTimeoutMs);
  }

  shutdown(): Promise<void> {
    this.shutdownPromise ??= withTimeout(this.provider.shutdown().catch(() => undefined), this.shutdownTimeoutMs).finally(() => {
      this.contextManager.disable();
    });
    return this.shutdownPromise;
  }

  stats(): TracerStats {
    return { ...this.exporter.stats };
  }

  /** Our own active context when inside one of our spans, else the global active context (another instrumentation's span). */
  private parentContext(): Context {
    const own = this.contextManager.active();
    return trace.getSpan(own) ? own : apiContext.active();
  }

  private filter(attributes: Attributes): Attributes {
    if (this.recordPrompts) return attributes;
    let filtered: Attributes | undefined;
    for (const key of Object.keys(attributes)) {
      if (CONTENT_ATTRIBUTES.has(key)) {
        filtered ??= { ...attributes };
        delete filtered[key];
      }
    }
    return filtered ?? attributes;
  }
}

/** Creates the tracer: the no-op one when `enabled` is false, else an OTelTracer. */
export function createTracer(options: CreateTracerOptions = {}): MuaiTracer {
  const { enabled = true, ...rest } = options;
  return enabled ? new OTelTracer(rest) : new NoopTracer();
}

async function loadOtlpExporter(
  protocol: OtlpProtocol,
  url: string,
  timeoutMillis: number,
  headers: Record<string, string> | undefined,
): Promise<SpanExporter> {
  const config = { url, timeoutMillis, ...(headers ? { headers } : {}) };
  if (protocol === 'grpc') {
    const { OTLPTraceExporter } = await optional('@opentelemetry/exporter-trace-otlp-grpc', () => import('@opentelemetry/exporter-trace-otlp-grpc'));
    return new OTLPTraceExporter({ url, timeoutMillis });
  }
  if (protocol === 'http/json') {
    const { OTLPTraceExporter } = await optional('@opentelemetry/exporter-trace-otlp-http', () => import('@opentelemetry/exporter-trace-otlp-http'));
    return new OTLPTraceExporter(config);
  }
  const { OTLPTraceExporter } = await optional('@opentelemetry/exporter-trace-otlp-proto', () => import('@opentelemetry/exporter-trace-otlp-proto'));
  return new OTLPTraceExporter(config);
}

/**
 * The OTLP exporters are optional peer dependencies (only the chosen protocol's is needed): a
 * missing one is a DependencyMissingError naming the package to install, reported through
 * onExportError, never a crash.
 */
async function optional<T>(packageName: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw new DependencyMissingError(packageName, 'OTLP trace export', { cause: error });
    throw error;
  }
}

function defaultExportErrorLog(endpoint: string): (error: Error, stats: TracerStats) => void {
  let lastLog = Number.NEGATIVE_INFINITY;
  return (error, stats) => {
    const now = Date.now();
    if (now - lastLog < 60_000) return;
    lastLog = now;
    console.warn(
      `[muai/monitoring] Exporting traces to ${endpoint} failed (${stats.failedExports} failed export(s), ${stats.droppedSpans} span(s) dropped so far): ${error.message}. Requests are not affected. Start an OTLP collector there, change the endpoint, or turn tracing off.`,
    );
  };
}

function failSpan(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function promptJson(prompt: string | readonly PromptMessage[]): string {
  const messages = typeof prompt === 'string' ? [{ role: 'user', content: prompt }] : prompt;
  return JSON.stringify(messages.map((m) => ({ role: m.role, parts: [{ type: 'text', content: m.content }] })));
}

function withTimeout(promise: Promise<unknown>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.then(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}
