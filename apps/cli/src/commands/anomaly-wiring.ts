/**
 * Builds `monitoring.anomaly` for `muai serve` (opt-in: nothing when `enabled` is false): the
 * detector from @muai/anomaly, its inputs from the performance monitor, the exporter and vLLM
 * scrapes, a check timer, `GET /v1/alerts`, and the metrics tee that feeds the monitor from the
 * server's per-request records. Detection runs on the timer, off the request path; delivery runs
 * on the detector's own queues.
 */
import { createAnomalyDetectorFromConfig, type AnomalyDetector, type AnomalyLogger, type SeriesValues } from '@muai/anomaly';
import type { MuaiConfig } from '@muai/config';
import type { MetricsSink } from '@muai/core';
import type { PerformanceMonitor, PrometheusExporter } from '@muai/monitoring';
import type { ServerMetrics, ServerOptions } from '@muai/server';
import { ExporterSeriesReader, VllmSeriesReader, seriesFromSnapshot } from './anomaly-sources.js';

type ServerPlugin = NonNullable<ServerOptions['plugins']>[number];

export interface AnomalyWiringOptions {
  config: MuaiConfig;
  performanceMonitor: PerformanceMonitor;
  /** Counts fired alerts (`muai_anomaly_alerts_total`) and provides fallbacks and KV usage. */
  exporter?: PrometheusExporter;
  logger?: AnomalyLogger;
  /** vLLM base URLs whose `/metrics` are scraped at each check. Default: the configured vLLM endpoints when vLLM is enabled. */
  vllmUrls?: readonly string[];
  /** Replaces fetch for vLLM scrapes (tests). */
  fetch?: typeof fetch;
}

export interface AnomalyWiring {
  readonly detector: AnomalyDetector;
  /** For `createOrchestratorFromConfig({ anomalyDetector })`: sees the monitor's snapshot after a request. */
  readonly orchestratorDetector: { observe(snapshot: unknown): unknown };
  /** `GET /v1/alerts` and the in-flight counter that feeds `queue_depth`. */
  readonly plugin: ServerPlugin;
  /** Wraps the server's metrics so each request also reaches the performance monitor, and /metrics carries the delivery counters. */
  metrics(inner: ServerMetrics | undefined): ServerMetrics;
  /** One check now: gather series, step every rule. */
  check(): Promise<void>;
  /** Starts the check timer (every `check_interval_ms`). */
  start(): void;
  /** Stops the timer and delivery. */
  stop(): Promise<void>;
}

const stderrLogger: AnomalyLogger = {
  warn: (message) => process.stderr.write(`muai: ${message}\n`),
  info: (message) => process.stderr.write(`muai: ${message}\n`),
};

/** Returns undefined unless monitoring and monitoring.anomaly are enabled. Throws CONFIG_INVALID on bad rules or targets. */
export function createAnomalyWiring(options: AnomalyWiringOptions): AnomalyWiring | undefined {
  const { config, performanceMonitor: monitor, exporter } = options;
  const settings = config.monitoring.anomaly;
  if (!config.monitoring.enabled || !settings.enabled) return undefined;
  const logger = options.logger ?? stderrLogger;
  const detector = createAnomalyDetectorFromConfig(settings, {
    logger,
    labels: { service: 'muai' },
    ...(exporter ? { onFire: (rule: string, severity: string) => exporter.recordAlert({ rule, severity }) } : {}),
  });
  const vllm = config.optimization.vllm;
  const vllmUrls = options.vllmUrls ?? (vllm.enabled ? (vllm.endpoints.length > 0 ? vllm.endpoints : [`http://${vllm.host}:${vllm.port}`]) : []);
  const vllmReaders = vllmUrls.map((url) => ({ url: `${url.replace(/\/+$/, '')}/metrics`, reader: new VllmSeriesReader(), failed: false }));
  const exporterReader = new ExporterSeriesReader();
  const interval = settings.check_interval_ms;
  let inFlight = 0;
  let timer: ReturnType<typeof setInterval> | undefined;
  let checking = false;
  let lastCheck = Number.NEGATIVE_INFINITY;

  async function gather(): Promise<SeriesValues> {
    const at = Date.now();
    const values: Record<string, number | undefined> = { ...seriesFromSnapshot(monitor.snapshot()) };
    if (exporter) Object.assign(values, exporterReader.read(await exporter.metrics(), at));
    for (const source of vllmReaders) {
      try {
        const response = await (options.fetch ?? fetch)(source.url, { signal: AbortSignal.timeout(Math.max(500, interval / 2)) });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const series = source.reader.read(await response.text(), at);
        // Several vLLM servers: queues and rates add up, KV usage is the fullest one.
        for (const [name, value] of Object.entries(series)) {
          if (value === undefined) continue;
          const current = values[name];
          values[name] = current === undefined ? value : name === 'vllm_kv_cache_usage' ? Math.max(current, value) : current + value;
        }
        source.failed = false;
      } catch (error) {
        if (!source.failed) logger.warn(`anomaly: scraping ${source.url} failed (${error instanceof Error ? error.message : String(error)}); its series are skipped until it answers`);
        source.failed = true;
      }
    }
    return values;
  }

  async function check(): Promise<void> {
    if (checking) return;
    checking = true;
    try {
      lastCheck = Date.now();
      detector.observe(await gather());
    } catch (error) {
      logger.warn(`anomaly: check failed: ${error instanceof Error ? error.message : String(error)}`);
    } finally {
      checking = false;
    }
  }

  const plugin: ServerPlugin = async (app) => {
    // In-flight generation requests are the server's queue: sampled on arrival and departure.
    app.addHook('onRequest', async (request) => {
      if (request.method !== 'POST' || !request.url.startsWith('/v1/')) return;
      inFlight += 1;
      monitor.recordQueueDepth(inFlight);
    });
    app.addHook('onResponse', async (request) => {
      if (request.method !== 'POST' || !request.url.startsWith('/v1/')) return;
      inFlight = Math.max(0, inFlight - 1);
      monitor.recordQueueDepth(inFlight);
    });
    app.get('/v1/alerts', async () => ({
      object: 'list',
      data: detector.alerts().map((alert) => ({
        fingerprint: alert.fingerprint,
        rule: alert.rule,
        state: alert.state,
        labels: alert.labels,
        annotations: alert.annotations,
        activeSince: new Date(alert.activeSince).toISOString(),
        startsAt: new Date(alert.startsAt).toISOString(),
        value: alert.value,
      })),
    }));
  };
  // Hooks must see every route, not only the plugin's own: skip Fastify's encapsulation (what fastify-plugin does).
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;

  return {
    detector,
    orchestratorDetector: {
      // The orchestrator calls this after each request; a check at most once per interval.
      observe: () => (Date.now() - lastCheck >= interval ? check() : undefined),
    },
    plugin,
    metrics(inner) {
      // Every other sink method goes straight to the wrapped metrics (fallbacks, batches, cache, …).
      const forward =
        <K extends Exclude<keyof MetricsSink, 'recordRequest'>>(method: K) =>
        (record: Parameters<MetricsSink[K]>[0]): void => {
          const target = inner?.[method] as ((value: typeof record) => void) | undefined;
          target?.call(inner, record);
        };
      return {
        recordFallback: forward('recordFallback'),
        recordBatch: forward('recordBatch'),
        recordQueueDepth: forward('recordQueueDepth'),
        recordCacheStats: forward('recordCacheStats'),
        recordAlert: forward('recordAlert'),
        recordRequest(record) {
          inner?.recordRequest?.(record);
          monitor.recordRequest(record);
        },
        async metrics() {
          return `${inner ? await inner.metrics() : ''}${detector.metricsText({ alerts: !exporter })}`;
        },
        contentType: inner?.contentType ?? 'text/plain; version=0.0.4; charset=utf-8',
      };
    },
    check,
    start() {
      timer ??= setInterval(() => void check(), interval);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      detector.close();
    },
  };
}
