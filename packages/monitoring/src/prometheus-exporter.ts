import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigInvalidError, MuaiError, PortInUseError } from '@muai/core';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { LabelGuard, type LabelPolicy } from './label-guard.js';
import type { AlertRecord, ConfigProblem, BatchRecord, CacheStatsRecord, FallbackRecord, MetricsSink, QueueDepthRecord, RequestRecord } from '@muai/core';

/** Setters of the auto-tuner's series (see `PrometheusExporter.tunerMetrics`). */
export interface TunerMetrics {
  setSetting(parameter: string, value: number): void;
  countAdjustment(parameter: string, direction: string): void;
}

/** Seconds. End-to-end latency: from 10 ms (small models, cache hits) to 10 minutes (long generations). */
export const REQUEST_LATENCY_BUCKETS: readonly number[] = [
  0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 60, 120, 300, 600,
];
/** Seconds. vLLM's `vllm:time_to_first_token_seconds` buckets, cut at 160 s. */
export const TIME_TO_FIRST_TOKEN_BUCKETS: readonly number[] = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160,
];
/** Seconds. vLLM's time-per-output-token buckets, with finer steps below 10 ms for CPU-sized models. */
export const TIME_PER_OUTPUT_TOKEN_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 10,
];
/** Requests per batch. */
export const BATCH_SIZE_BUCKETS: readonly number[] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/** Severities kept as they are on `anomaly_alerts_total`; others become `other`. */
const SEVERITIES = ['info', 'warning', 'critical'] as const;

const LINT_FAILING_DEFAULT_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** The environment variable named in the PORT_IN_USE message by default. */
export const PROMETHEUS_PORT_VARIABLE = 'MUAI_MON_PROMETHEUS_PORT';

export interface PrometheusExporterOptions {
  /** Port of the exporter's own HTTP server. Default 9090. 0 picks a free port (see `port` after start). */
  port?: number;
  /**
   * Interface the exporter's server binds. Default `'127.0.0.1'` (loopback only: metrics name
   * models and workflows). Use `'0.0.0.0'` so that a Prometheus on another host can scrape it.
   */
  host?: string;
  /** Path that serves the metrics. Default `'/metrics'`. */
  path?: string;
  /** Prefix of every MuAI metric name. Default `'muai_'`. */
  prefix?: string;
  /** Also export Node.js process metrics (`process_*`, `nodejs_*`, unprefixed, as is customary). Default true. */
  collectDefaultMetrics?: boolean;
  /** Labels added to every series (e.g. `{ instance_role: 'server' }`). Default none. */
  defaultLabels?: Readonly<Record<string, string>>;
  /** Most distinct values per label before new ones collapse to `'other'`. Default 50. */
  maxLabelValues?: number;
  /** Per-label allow-lists or limits, by label name (`model`, `engine`, `workflow`, `status`, `reason`, `rule`, ...). */
  labelPolicies?: Readonly<Record<string, LabelPolicy>>;
  /** Variable named in the PORT_IN_USE message. Default `'MUAI_MON_PROMETHEUS_PORT'`. */
  portVariable?: string;
  /**
   * Also expose vLLM's series, under vLLM's names and `model_name` label, computed from the same
   * records as the `muai_` ones: `vllm:num_requests_waiting`, `vllm:num_requests_running`,
   * `vllm:kv_cache_usage_perc` (0-1, CacheStatsRecord.runningRatio, else the usage ratio), `vllm:time_to_first_token_seconds`,
   * `vllm:request_time_per_output_token_seconds`, `vllm:e2e_request_latency_seconds`,
   * `vllm:prompt_tokens_total`, `vllm:generation_tokens_total`. Routers (Gateway API Inference
   * Extension, vLLM production-stack) and autoscalers (KEDA, HPA) read these. Default true.
   */
  vllmCompatible?: boolean;
}

/** Reads state at scrape time and feeds it through the exporter's MetricsSink methods. */
export type MetricsCollector = () => void | Promise<void>;

/** The vLLM-named series (see `vllmCompatible`). */
interface VllmSeries {
  waiting: Gauge<'model_name'>;
  running: Gauge<'model_name'>;
  kvUsage: Gauge<'model_name'>;
  ttft: Histogram<'model_name'>;
  tpot: Histogram<'model_name'>;
  e2e: Histogram<'model_name'>;
  promptTokens: Counter<'model_name'>;
  generationTokens: Counter<'model_name'>;
}

/** Where the exporter's server listens. */
export interface ExporterAddress {
  host: string;
  port: number;
}

/**
 * MuAI's Prometheus metrics, in a registry of their own (never prom-client's global one), with an
 * optional HTTP server for `/metrics` and `/health`. Recording methods never throw: a bad value
 * (negative, NaN) is ignored.
 */
export class PrometheusExporter implements MetricsSink {
  /** The registry that holds every metric of this exporter. */
  readonly registry: Registry;
  private tuner: TunerMetrics | undefined;
  /** The label guard that bounds every label value. */
  readonly labels: LabelGuard;
  private readonly options: Required<Omit<PrometheusExporterOptions, 'defaultLabels' | 'labelPolicies' | 'vllmCompatible'>>;
  private readonly vllm: VllmSeries | undefined;
  private readonly collectors: MetricsCollector[] = [];
  private server: Server | undefined;
  private listening: ExporterAddress | undefined;

  private readonly requestsTotal: Counter<'model' | 'engine' | 'workflow' | 'status'>;
  private readonly requestLatency: Histogram<'model' | 'engine' | 'workflow'>;
  private readonly timeToFirstToken: Histogram<'model' | 'engine'>;
  private readonly timePerOutputToken: Histogram<'model' | 'engine'>;
  private readonly promptTokens: Counter<'model' | 'engine'>;
  private readonly generationTokens: Counter<'model' | 'engine'>;
  private readonly queueDepth: Gauge<'model' | 'engine'>;
  private readonly batchSize: Histogram<'model' | 'engine'>;
  private readonly cacheUsageBytes: Gauge<'model' | 'engine'>;
  private readonly cacheUsageRatio: Gauge<'model' | 'engine'>;
  private readonly cacheHits: Counter<'model' | 'engine'>;
  private readonly cacheMisses: Counter<'model' | 'engine'>;
  private readonly fallbacks: Counter<'from' | 'to' | 'reason'>;
  private readonly alerts: Counter<'rule' | 'severity'>;

  constructor(options: PrometheusExporterOptions = {}) {
    this.options = {
      port: options.port ?? 9090,
      host: options.host ?? '127.0.0.1',
      path: options.path ?? '/metrics',
      prefix: options.prefix ?? 'muai_',
      collectDefaultMetrics: options.collectDefaultMetrics ?? true,
      maxLabelValues: options.maxLabelValues ?? 50,
      portVariable: options.portVariable ?? PROMETHEUS_PORT_VARIABLE,
    };
    const problems: ConfigProblem[] = [];
    if (!Number.isInteger(this.options.port) || this.options.port < 0 || this.options.port > 65535) {
      problems.push({ path: 'port', value: options.port, expected: `Prometheus port is not a port number. Use an integer from 0 to 65535 (0 picks a free port) in ${this.options.portVariable}` });
    }
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(this.options.prefix) && this.options.prefix !== '') {
      problems.push({ path: 'prefix', value: this.options.prefix, expected: 'Metric prefix is not a valid Prometheus name prefix. Use letters, digits and underscores, e.g. "muai_"' });
    }
    if (problems.length > 0) throw new ConfigInvalidError(problems, { details: { port: options.port } });
    this.labels = new LabelGuard({
      maxValuesPerLabel: this.options.maxLabelValues,
      labels: { severity: { allow: SEVERITIES }, ...options.labelPolicies },
    });
    this.registry = new Registry();
    if (options.defaultLabels) this.registry.setDefaultLabels({ ...options.defaultLabels });
    if (this.options.collectDefaultMetrics) {
      collectDefaultMetrics({ register: this.registry });
      // prom-client exposes these three gauges with a `_total` suffix, which Prometheus naming
      // rules reserve for counters (promtool check metrics flags them). The per-type gauges
      // `nodejs_active_handles`, `nodejs_active_requests`, `nodejs_active_resources` carry the same data.
      for (const name of LINT_FAILING_DEFAULT_METRICS) this.registry.removeSingleMetric(name);
    }

    const p = this.options.prefix;
    const registers = [this.registry];
    this.requestsTotal = new Counter({
      name: `${p}requests_total`,
      help: 'Requests finished, by model, engine, workflow and status.',
      labelNames: ['model', 'engine', 'workflow', 'status'] as const,
      registers,
    });
    this.requestLatency = new Histogram({
      name: `${p}request_duration_seconds`,
      help: 'End-to-end request latency in seconds.',
      labelNames: ['model', 'engine', 'workflow'] as const,
      buckets: [...REQUEST_LATENCY_BUCKETS],
      registers,
    });
    this.timeToFirstToken = new Histogram({
      name: `${p}time_to_first_token_seconds`,
      help: 'Time from arrival to the first generated token, in seconds.',
      labelNames: ['model', 'engine'] as const,
      buckets: [...TIME_TO_FIRST_TOKEN_BUCKETS],
      registers,
    });
    this.timePerOutputToken = new Histogram({
      name: `${p}time_per_output_token_seconds`,
      help: 'Mean time per generated token after the first, per request, in seconds.',
      labelNames: ['model', 'engine'] as const,
      buckets: [...TIME_PER_OUTPUT_TOKEN_BUCKETS],
      registers,
    });
    this.promptTokens = new Counter({
      name: `${p}prompt_tokens_total`,
      help: 'Prompt (input) tokens processed.',
      labelNames: ['model', 'engine'] as const,
      registers,
    });
    this.generationTokens = new Counter({
      name: `${p}generation_tokens_total`,
      help: 'Tokens generated (output).',
      labelNames: ['model', 'engine'] as const,
      registers,
    });
    this.queueDepth = new Gauge({
      name: `${p}queue_depth`,
      help: 'Requests waiting in a queue, by model and engine ("all" when not split).',
      labelNames: ['model', 'engine'] as const,
      registers,
    });
    this.batchSize = new Histogram({
      name: `${p}batch_size`,
      help: 'Requests per executed batch.',
      labelNames: ['model', 'engine'] as const,
      buckets: [...BATCH_SIZE_BUCKETS],
      registers,
    });
    this.cacheUsageBytes = new Gauge({
      name: `${p}kv_cache_usage_bytes`,
      help: 'Bytes of KV cache in use.',
      labelNames: ['model', 'engine'] as const,
      registers,
    });
    this.cacheUsageRatio = new Gauge({
      name: `${p}kv_cache_usage_ratio`,
      help: 'Fraction of the KV cache budget in use (0 to 1).',
      labelNames: ['model', 'engine'] as const,
      registers,
    });
    this.cacheHits = new Counter({
      name: `${p}kv_cache_hits_total`,
      help: 'KV cache (prefix) lookups that hit.',
      labelNames: ['model', 'engine'] as const,
      registers,
    });
    this.cacheMisses = new Counter({
      name: `${p}kv_cache_misses_total`,
      help: 'KV cache (prefix) lookups that missed.',
      labelNames: ['model', 'engine'] as const,
      registers,
    });
    this.fallbacks = new Counter({
      name: `${p}engine_fallbacks_total`,
      help: 'Requests moved from one engine to another, by reason.',
      labelNames: ['from', 'to', 'reason'] as const,
      registers,
    });
    this.alerts = new Counter({
      name: `${p}anomaly_alerts_total`,
      help: 'Anomaly alerts fired, by rule and severity.',
      labelNames: ['rule', 'severity'] as const,
      registers,
    });
    this.vllm = options.vllmCompatible === false ? undefined : createVllmSeries(registers);
  }

  /** Content type of `metrics()` (Prometheus text format 0.0.4). */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The metrics in Prometheus text format, for serving on another server's `/metrics`. Runs the collectors first. */
  async metrics(): Promise<string> {
    for (const collect of this.collectors) {
      try {
        await collect();
      } catch {
        // A collector that fails leaves its series at their last values; the scrape still answers.
      }
    }
    return this.registry.metrics();
  }

  /**
   * Adds a collector run before every scrape: how state that lives elsewhere (an engine's scheduler
   * and KV cache, even in a worker thread) reaches `muai_queue_depth`, `muai_kv_cache_*`,
   * `muai_batch_size` and the vLLM gauges through this sink's methods.
   */
  addCollector(collect: MetricsCollector): void {
    this.collectors.push(collect);
  }

  /** Records one finished request: count, latency, TTFT, TPOT, tokens. */
  recordRequest(record: RequestRecord): void {
    const model = this.labels.value('model', record.model);
    const engine = this.labels.value('engine', record.engine);
    const workflow = this.labels.value('workflow', record.workflow ?? 'none');
    const status = this.labels.value('status', record.status);
    this.requestsTotal.inc({ model, engine, workflow, status });
    if (isCount(record.latencyMs)) this.requestLatency.observe({ model, engine, workflow }, record.latencyMs / 1000);
    if (isCount(record.ttftMs)) this.timeToFirstToken.observe({ model, engine }, record.ttftMs / 1000);
    if (isCount(record.tpotMs)) this.timePerOutputToken.observe({ model, engine }, record.tpotMs / 1000);
    if (isCount(record.promptTokens) && record.promptTokens > 0) this.promptTokens.inc({ model, engine }, record.promptTokens);
    if (isCount(record.completionTokens) && record.completionTokens > 0) {
      this.generationTokens.inc({ model, engine }, record.completionTokens);
    }
    const vllm = this.vllm;
    if (vllm) {
      const labels = { model_name: model };
      if (isCount(record.latencyMs)) vllm.e2e.observe(labels, record.latencyMs / 1000);
      if (isCount(record.ttftMs)) vllm.ttft.observe(labels, record.ttftMs / 1000);
      if (isCount(record.tpotMs)) vllm.tpot.observe(labels, record.tpotMs / 1000);
      if (isCount(record.promptTokens) && record.promptTokens > 0) vllm.promptTokens.inc(labels, record.promptTokens);
      if (isCount(record.completionTokens) && record.completionTokens > 0) vllm.generationTokens.inc(labels, record.completionTokens);
    }
  }

  /** Sets the number of waiting requests. Without labels the series is `{model="all",engine="all"}`. */
  setQueueDepth(depth: number, labels: { model?: string; engine?: string } = {}): void {
    if (!isCount(depth)) return;
    this.queueDepth.set(
      { model: this.labels.value('model', labels.model ?? 'all'), engine: this.labels.value('engine', labels.engine ?? 'all') },
      depth,
    );
  }

  /** Observes the size of one executed batch. */
  observeBatchSize(size: number, labels: { model?: string; engine?: string } = {}): void {
    if (!isCount(size)) return;
    this.batchSize.observe(
      { model: this.labels.value('model', labels.model ?? 'all'), engine: this.labels.value('engine', labels.engine ?? 'all') },
      size,
    );
  }

  /** Records KV cache usage (gauges) and new hits and misses (counter increments). */
  recordCacheStats(stats: CacheStatsRecord): void {
    const labels = {
      model: this.labels.value('model', stats.model ?? 'all'),
      engine: this.labels.value('engine', stats.engine ?? 'all'),
    };
    if (isCount(stats.usedBytes)) this.cacheUsageBytes.set(labels, stats.usedBytes);
    let ratio = stats.usageRatio;
    if (ratio === undefined && isCount(stats.usedBytes) && isCount(stats.capacityBytes) && stats.capacityBytes > 0) {
      ratio = stats.usedBytes / stats.capacityBytes;
    }
    if (isCount(ratio)) this.cacheUsageRatio.set(labels, Math.min(1, ratio));
    // vLLM's gauge counts only blocks running requests hold (cached, unused prefixes are free to
    // evict), so routers and autoscalers do not shun a replica for having a warm cache.
    const running = stats.runningRatio ?? ratio;
    if (isCount(running)) this.vllm?.kvUsage.set({ model_name: labels.model }, Math.min(1, running));
    if (isCount(stats.hits) && stats.hits > 0) this.cacheHits.inc(labels, stats.hits);
    if (isCount(stats.misses) && stats.misses > 0) this.cacheMisses.inc(labels, stats.misses);
  }

  /** MetricsSink: the size of one executed batch (`muai_batch_size`). */
  recordBatch(record: BatchRecord): void {
    this.observeBatchSize(record.size, record);
  }

  /** MetricsSink: requests waiting now (`muai_queue_depth`; with vLLM series, `vllm:num_requests_waiting` and, when given, `vllm:num_requests_running`). */
  recordQueueDepth(record: QueueDepthRecord): void {
    this.setQueueDepth(record.depth, record);
    const vllm = this.vllm;
    if (!vllm || record.model === undefined) return;
    const labels = { model_name: this.labels.value('model', record.model) };
    if (isCount(record.depth)) vllm.waiting.set(labels, record.depth);
    if (isCount(record.running)) vllm.running.set(labels, record.running);
  }

  /**
   * Counts a fallback from one engine to another. `reason` should be an error code, not a message.
   * Also callable as `recordFallback(from, to, reason)` (the first release's form).
   */
  recordFallback(record: FallbackRecord): void;
  recordFallback(from: string, to: string, reason: string): void;
  recordFallback(recordOrFrom: FallbackRecord | string, to?: string, reason?: string): void {
    const record = typeof recordOrFrom === 'string' ? { from: recordOrFrom, to: to ?? 'none', reason: reason ?? 'unknown' } : recordOrFrom;
    this.fallbacks.inc({
      from: this.labels.value('engine', record.from),
      to: this.labels.value('engine', record.to),
      reason: this.labels.value('reason', record.reason),
    });
  }

  /**
   * Counts an anomaly alert. Severity is one of info, warning, critical (else `other`).
   * Also callable as `recordAlert(rule, severity)`.
   */
  recordAlert(record: AlertRecord): void;
  recordAlert(rule: string, severity: string): void;
  recordAlert(recordOrRule: AlertRecord | string, severity?: string): void {
    const record = typeof recordOrRule === 'string' ? { rule: recordOrRule, severity: severity ?? 'warning' } : recordOrRule;
    this.alerts.inc({ rule: this.labels.value('rule', record.rule), severity: this.labels.value('severity', record.severity) });
  }

  /**
   * The auto-tuner's series on this registry, declared on first call: `muai_tuner_setting{parameter}`
   * (gauge: the value in force) and `muai_tuner_adjustments_total{parameter,direction}` (counter).
   */
  tunerMetrics(): TunerMetrics {
    if (this.tuner === undefined) {
      const p = this.options.prefix;
      const setting = new Gauge({ name: `${p}tuner_setting`, help: 'Value in force of each knob the auto-tuner adjusts.', labelNames: ['parameter'] as const, registers: [this.registry] });
      const adjustments = new Counter({ name: `${p}tuner_adjustments_total`, help: 'Auto-tuner changes, by knob and direction (up, down, revert).', labelNames: ['parameter', 'direction'] as const, registers: [this.registry] });
      this.tuner = {
        setSetting: (parameter, value) => setting.set({ parameter }, value),
        countAdjustment: (parameter, direction) => adjustments.inc({ parameter, direction }),
      };
    }
    return this.tuner;
  }

  /** Clears every recorded value (not the metric definitions). */
  reset(): void {
    this.registry.resetMetrics();
  }

  /** Where the server listens, or null when it is not started. */
  address(): ExporterAddress | null {
    return this.listening ? { ...this.listening } : null;
  }

  /** The port the server listens on once started (the real one when configured as 0), else the configured port. */
  get port(): number {
    return this.listening?.port ?? this.options.port;
  }

  /**
   * Starts the HTTP server: `GET {path}` serves the metrics, `GET /health` answers `{"status":"ok"}`.
   * Throws PortInUseError (code PORT_IN_USE) when the port is taken. Starting twice is a no-op.
   */
  async startServer(): Promise<ExporterAddress> {
    if (this.listening) return { ...this.listening };
    const server = createServer((request, response) => {
      this.handle(request, response);
    });
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException): void => {
        server.off('listening', onListening);
        if (error.code === 'EADDRINUSE') {
          reject(new PortInUseError(this.options.port, this.options.portVariable, { cause: error, details: { host: this.options.host } }));
        } else {
          reject(
            new MuaiError('INTERNAL', `The Prometheus exporter could not listen on ${this.options.host}:${this.options.port}: ${error.message}. Check the host and port (${this.options.portVariable}).`, {
              cause: error,
              details: { host: this.options.host, port: this.options.port },
            }),
          );
        }
      };
      const onListening = (): void => {
        server.off('error', onError);
        resolve();
      };
      server.once('error', onError);
      server.once('listening', onListening);
      server.listen(this.options.port, this.options.host);
    });
    const info = server.address() as AddressInfo;
    this.server = server;
    this.listening = { host: this.options.host, port: info.port };
    return { ...this.listening };
  }

  /** Stops the HTTP server and closes open connections. Safe to call when not started. */
  async stopServer(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.listening = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0];
    const method = request.method ?? 'GET';
    if (path !== this.options.path && path !== '/health') {
      send(response, 404, 'text/plain; charset=utf-8', `Not found. Metrics are at ${this.options.path}, health at /health.\n`);
      return;
    }
    if (method !== 'GET' && method !== 'HEAD') {
      response.setHeader('Allow', 'GET, HEAD');
      send(response, 405, 'text/plain; charset=utf-8', 'Method not allowed. Use GET.\n');
      return;
    }
    if (path === '/health') {
      send(response, 200, 'application/json; charset=utf-8', '{"status":"ok"}', method === 'HEAD');
      return;
    }
    this.metrics().then(
      (text) => send(response, 200, this.contentType, text, method === 'HEAD'),
      (error: unknown) => send(response, 500, 'text/plain; charset=utf-8', `Collecting metrics failed: ${error instanceof Error ? error.message : String(error)}\n`),
    );
  }
}

/** vLLM's series under vLLM's names (the `:` is vLLM's; promtool notes it, routers expect it). */
function createVllmSeries(registers: Registry[]): VllmSeries {
  const labelNames = ['model_name'] as const;
  return {
    waiting: new Gauge({ name: 'vllm:num_requests_waiting', help: 'Number of requests waiting to be processed.', labelNames, registers }),
    running: new Gauge({ name: 'vllm:num_requests_running', help: 'Number of requests in model execution batches.', labelNames, registers }),
    kvUsage: new Gauge({ name: 'vllm:kv_cache_usage_perc', help: 'KV-cache usage. 1 means 100 percent usage.', labelNames, registers }),
    ttft: new Histogram({ name: 'vllm:time_to_first_token_seconds', help: 'Histogram of time to first token in seconds.', labelNames, buckets: [...TIME_TO_FIRST_TOKEN_BUCKETS], registers }),
    tpot: new Histogram({
      name: 'vllm:request_time_per_output_token_seconds',
      help: 'Histogram of time_per_output_token_seconds per request.',
      labelNames,
      buckets: [...TIME_PER_OUTPUT_TOKEN_BUCKETS],
      registers,
    }),
    e2e: new Histogram({ name: 'vllm:e2e_request_latency_seconds', help: 'Histogram of e2e request latency in seconds.', labelNames, buckets: [...REQUEST_LATENCY_BUCKETS], registers }),
    promptTokens: new Counter({ name: 'vllm:prompt_tokens_total', help: 'Number of prefill tokens processed.', labelNames, registers }),
    generationTokens: new Counter({ name: 'vllm:generation_tokens_total', help: 'Number of generation tokens processed.', labelNames, registers }),
  };
}

/** Creates a PrometheusExporter; see PrometheusExporterOptions for options and defaults. */
export function createPrometheusExporter(options: PrometheusExporterOptions = {}): PrometheusExporter {
  return new PrometheusExporter(options);
}

function isCount(value: number | undefined): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function send(response: ServerResponse, status: number, contentType: string, body: string, headOnly = false): void {
  response.statusCode = status;
  response.setHeader('Content-Type', contentType);
  response.setHeader('Content-Length', Buffer.byteLength(body));
  response.setHeader('Cache-Control', 'no-store');
  response.end(headOnly ? undefined : body);
}
