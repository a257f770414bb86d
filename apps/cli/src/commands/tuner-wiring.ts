/**
 * Builds `optimization.tuner` for `muai serve` (opt-in: nothing unless `optimization.enabled`,
 * `optimization.tuner.enabled` and mode `online`): the @muai/tuner controller stepped every
 * `interval_ms` on a performance monitor whose window is one interval, the knobs applied where
 * they live (the embedded engine's continuous batching, the batchers the orchestrator builds, an
 * admission gate for `max_concurrency` that answers 429 QUEUE_FULL with Retry-After beyond it, as
 * TGI's `--max-concurrent-requests`), a log line per decision, the `muai_tuner_*` series and
 * `GET /v1/tuner`. Changes take effect between batches or decode steps: nothing in flight is
 * dropped or failed.
 */
import type { MuaiConfig } from '@muai/config';
import { MuaiError, type Logger, type MetricsSink } from '@muai/core';
import { createPerformanceMonitor, type PerformanceMonitor, type PrometheusExporter, type TunerMetrics } from '@muai/monitoring';
import type { BatcherFactory, BatcherFactoryOptions, OrchestratorRuntime } from '@muai/orchestrator';
import type { ServerMetrics, ServerOptions, StartServerOptions } from '@muai/server';
import { createAdmissionGate, createOnlineTuner, type OnlineTuner, type TunerDecision, type TunerParameter, type TunerSettings, type TunerSignal } from '@muai/tuner';

type ServerPlugin = NonNullable<ServerOptions['plugins']>[number];

/** What the wiring needs of a batcher built by @muai/batcher (checked at run time: the orchestrator types it loosely). */
interface TunableBatcher {
  setLimits(limits: { maxBatchSize?: number; batchTimeoutMs?: number }): void;
}

interface EngineBatchStats {
  steps: number;
  sequenceSteps: number;
  waiting: number;
}

/** What the wiring needs of the embedded engine (OnnxEngine or its worker twin). */
interface TunableEngine {
  setLimits(limits: { maxBatchSize?: number }): unknown;
  batchStats?(): EngineBatchStats | Promise<EngineBatchStats>;
}

export interface TunerWiringOptions {
  config: MuaiConfig;
  /** Receives `muai_tuner_setting` and `muai_tuner_adjustments_total`. */
  exporter?: PrometheusExporter;
  logger?: Pick<Logger, 'warn' | 'info'>;
  /** Loads @muai/batcher (tests replace it). Default: `import()`. */
  importModule?: (specifier: string) => Promise<unknown>;
}

export interface TunerWiring {
  readonly tuner: OnlineTuner;
  /** Sees every request (through `metrics`) and batch (through `orchestratorMetrics`); one interval wide. */
  readonly monitor: PerformanceMonitor;
  /** For `createOrchestratorFromConfig({ batcherFactory })`: batchers that start at, and follow, the tuned limits. */
  readonly batcherFactory: BatcherFactory;
  /** For `createOrchestratorFromConfig({ metrics })`: batch sizes reach the monitor. */
  readonly orchestratorMetrics: Partial<MetricsSink>;
  /** `GET /v1/tuner` and, when `max_concurrency` is tuned, the admission gate. */
  readonly plugin: ServerPlugin;
  /** Wraps the server's metrics so each request also reaches the tuner's monitor. */
  metrics(inner: ServerMetrics | undefined): ServerMetrics;
  /** The runtime whose embedded engine gets `max_batch_size`. */
  attach(runtime: Pick<OrchestratorRuntime, 'optimizationManager'>): void;
  /** One step now (what the timer does): returns its decisions. */
  step(): Promise<TunerDecision[]>;
  start(): void;
  stop(): void;
}

const stderrLogger: Pick<Logger, 'warn' | 'info'> = {
  warn: (message) => process.stderr.write(`muai: ${message}\n`),
  info: (message) => process.stderr.write(`muai: ${message}\n`),
};

/** The embedded engine's default continuous-batching limit (OnnxEngine's `maxBatchSize`). */
const ENGINE_DEFAULT_MAX_BATCH_SIZE = 16;
/** Where the tuned `max_concurrency` starts when `monitoring.server.max_concurrent_requests` is 0 (no limit): its default. */
const UNLIMITED_CONCURRENCY_START = 512;

/** Returns undefined unless the tuner is enabled for online use. Throws CONFIG_INVALID on invalid tuner options. */
export function createTunerWiring(options: TunerWiringOptions): TunerWiring | undefined {
  const { config, exporter } = options;
  const settings = config.optimization.tuner;
  if (!config.optimization.enabled || !settings.enabled || settings.mode !== 'online') return undefined;
  const logger = options.logger ?? stderrLogger;
  const batcher = config.optimization.batcher;
  const batcherOn = batcher.enabled;
  const parameters: TunerParameter[] = [];
  for (const parameter of settings.parameters) {
    // Knobs with nothing to act on in this server are left out, with the reason, rather than "tuned" in vain.
    if (parameter === 'batch_timeout_ms' && !batcherOn) {
      logger.info?.('tuner: batch_timeout_ms is not tuned: optimization.batcher is off (the embedded engine batches continuously, with no wait)');
    } else if (parameter === 'cache_max_memory_mb') {
      logger.warn('tuner: cache_max_memory_mb is not tuned online: the KV cache budget is fixed when a model loads; use `muai tune` offline');
    } else parameters.push(parameter);
  }
  if (parameters.length === 0) {
    logger.warn('tuner: optimization.tuner.enabled is true but none of its parameters can be tuned in this server; the settings stay as configured');
    return undefined;
  }
  const initial: TunerSettings = {
    max_batch_size: batcherOn ? batcher.max_batch_size : ENGINE_DEFAULT_MAX_BATCH_SIZE,
    batch_timeout_ms: batcher.batch_timeout_ms,
    max_concurrency: config.monitoring.server.max_concurrent_requests > 0 ? config.monitoring.server.max_concurrent_requests : UNLIMITED_CONCURRENCY_START,
  };
  const concurrencyMax = initial.max_concurrency!;
  const slo = {
    ...(settings.target_p99_latency_ms !== undefined ? { p99LatencyMs: settings.target_p99_latency_ms } : {}),
    ...(settings.ttft_slo_ms !== undefined ? { ttftMs: settings.ttft_slo_ms } : {}),
    ...(settings.tpot_slo_ms !== undefined ? { tpotMs: settings.tpot_slo_ms } : {}),
  };
  const tuner = createOnlineTuner({
    parameters,
    initial,
    slo,
    objective: settings.objective,
    // Never above the configured batcher size by more than 4×: the configured value is the operator's scale.
    // The admission limit never looser than the server's own (which refuses beyond it anyway); steps of a 64th of it.
    bounds: { max_batch_size: { max: Math.max(initial.max_batch_size ?? 1, 4 * (initial.max_batch_size ?? 1)) }, max_concurrency: { max: concurrencyMax, step: Math.max(1, Math.round(concurrencyMax / 64)) } },
  });
  const interval = settings.interval_ms;
  const monitor = createPerformanceMonitor({ windowMs: interval, bucketMs: Math.max(50, Math.floor(interval / 20)) });
  const series: TunerMetrics | undefined = exporter?.tunerMetrics();
  const batchers = new Set<TunableBatcher>();
  const load = options.importModule ?? ((specifier: string) => import(specifier));
  let engine: TunableEngine | undefined;
  let runtime: Pick<OrchestratorRuntime, 'optimizationManager'> | undefined;
  let lastEngineStats: { steps: number; sequenceSteps: number } | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let stepping = false;
  /** The last hold's reason: an idle or steady server would otherwise log the same line every interval. */
  let lastHold: string | undefined;

  // max_concurrency: an admission gate in front of the generation routes. A request over the limit is
  // refused at once (429 QUEUE_FULL, Retry-After): under overload a waiting line only grows, and with it
  // the latency of every request admitted behind it.
  const concurrencyTuned = parameters.includes('max_concurrency');
  const gate = createAdmissionGate({ limit: tuner.settings().max_concurrency ?? concurrencyMax });
  const admitted = new WeakSet<object>();

  for (const parameter of parameters) series?.setSetting(parameter, tuner.settings()[parameter]!);

  async function findEngine(): Promise<TunableEngine | undefined> {
    if (engine !== undefined || runtime === undefined) return engine;
    const candidate = (await runtime.optimizationManager.getEngine('onnx').catch(() => undefined)) as Partial<TunableEngine> | undefined;
    if (candidate && typeof candidate.setLimits === 'function') engine = candidate as TunableEngine;
    return engine;
  }

  /** Pushes the settings in force to every place that holds them. */
  async function apply(): Promise<void> {
    const now = tuner.settings();
    for (const batch of batchers) {
      batch.setLimits({ ...(now.max_batch_size !== undefined ? { maxBatchSize: now.max_batch_size } : {}), ...(now.batch_timeout_ms !== undefined ? { batchTimeoutMs: now.batch_timeout_ms } : {}) });
    }
    if (now.max_concurrency !== undefined) gate.setLimit(now.max_concurrency);
    const target = await findEngine();
    if (target && now.max_batch_size !== undefined) {
      try {
        await target.setLimits({ maxBatchSize: now.max_batch_size });
      } catch (error) {
        logger.warn(`tuner: could not apply max_batch_size to the embedded engine: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    for (const parameter of parameters) series?.setSetting(parameter, now[parameter]!);
  }

  /**
   * The window's figures, with the embedded engine's mean batch (sequences per decode step) when
   * the orchestrator recorded none, its waiting requests when nothing recorded a queue depth, and the
   * admission gate's window (refusals, requests in flight) when it enforces max_concurrency.
   */
  async function signal(): Promise<TunerSignal> {
    const snapshot = monitor.snapshot();
    let batchMean = snapshot.batchSize.mean;
    let queued = snapshot.queueDepth.mean;
    const target = await findEngine();
    if ((batchMean === null || queued === null) && target?.batchStats) {
      try {
        const stats = await target.batchStats();
        if (batchMean === null && lastEngineStats && stats.steps > lastEngineStats.steps) batchMean = (stats.sequenceSteps - lastEngineStats.sequenceSteps) / (stats.steps - lastEngineStats.steps);
        lastEngineStats = { steps: stats.steps, sequenceSteps: stats.sequenceSteps };
        queued ??= stats.waiting;
      } catch {
        // No model loaded yet: no batch figure this time.
      }
    }
    return { ...snapshot, batchSize: { mean: batchMean }, queueDepth: { mean: queued }, ...(concurrencyTuned ? { admission: gate.window() } : {}) };
  }

  async function step(): Promise<TunerDecision[]> {
    if (stepping) return [];
    stepping = true;
    try {
      const decisions = tuner.step(await signal());
      for (const decision of decisions) {
        if (decision.parameter === null) {
          if (decision.reason !== lastHold) logger.info?.(`tuner: hold: ${decision.reason}`);
          lastHold = decision.reason;
          continue;
        }
        lastHold = undefined;
        series?.countAdjustment(decision.parameter, decision.direction);
        logger.info?.(`tuner: ${decision.parameter} ${decision.from} -> ${decision.to} (${decision.direction}): ${decision.reason}`);
      }
      if (decisions.some((decision) => decision.parameter !== null)) await apply();
      return decisions;
    } finally {
      stepping = false;
    }
  }

  const batcherFactory: BatcherFactory = async (factoryOptions: BatcherFactoryOptions) => {
    const module = (await load('@muai/batcher')) as { createBatcher?: (options: Record<string, unknown>) => unknown };
    if (typeof module.createBatcher !== 'function') throw new Error('@muai/batcher does not export createBatcher()');
    const now = tuner.settings();
    const created = module.createBatcher({
      ...factoryOptions,
      ...(now.max_batch_size !== undefined ? { maxBatchSize: now.max_batch_size } : {}),
      ...(now.batch_timeout_ms !== undefined ? { batchTimeoutMs: now.batch_timeout_ms } : {}),
    }) as ReturnType<BatcherFactory> & Partial<TunableBatcher>;
    if (typeof created.setLimits === 'function') batchers.add(created as TunableBatcher);
    return created;
  };

  const plugin: ServerPlugin = async (app) => {
    if (concurrencyTuned) {
      app.addHook('onRequest', async (request) => {
        if (request.method !== 'POST' || !request.url.startsWith('/v1/')) return;
        if (!gate.tryAcquire()) {
          // The server's error handler answers 429 with Retry-After.
          throw new MuaiError(
            'QUEUE_FULL',
            `The server is at its tuned concurrency limit (${gate.limit} requests in flight; optimization.tuner, max_concurrency), lowered to keep latency within the SLO. Retry after the Retry-After delay.`,
            { details: { limit: gate.limit, setting: 'optimization.tuner (max_concurrency)' } },
          );
        }
        admitted.add(request);
      });
      const leave = async (request: object): Promise<void> => {
        if (!admitted.has(request)) return;
        admitted.delete(request);
        gate.release();
      };
      app.addHook('onResponse', leave);
      app.addHook('onRequestAbort', leave);
    }
    app.get('/v1/tuner', async () => {
      const state = tuner.state();
      return {
        object: 'tuner',
        enabled: true,
        objective: state.objective,
        interval_ms: interval,
        parameters,
        settings: state.settings,
        bounds: state.bounds,
        slo: { target_p99_latency_ms: state.slo.p99LatencyMs ?? null, ttft_slo_ms: state.slo.ttftMs ?? null, tpot_slo_ms: state.slo.tpotMs ?? null },
        step: state.step,
        pressure: state.pressure,
        score: state.score,
        latency_model: state.latencyModel,
        // The max_concurrency gate now (requests over `limit` get 429 QUEUE_FULL), when it is tuned,
        // with the capacity last measured and the Little's law bound it gives.
        admission: concurrencyTuned ? { limit: gate.limit, in_flight: gate.inFlight, capacity_rps: state.capacityRps, bound: state.concurrencyBound } : null,
        decisions: state.decisions.map((decision) => ({ ...decision, at: new Date(decision.at).toISOString() })),
      };
    });
  };
  // The gate must see every route, not only the plugin's own: skip Fastify's encapsulation (what fastify-plugin does).
  (plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;

  return {
    tuner,
    monitor,
    batcherFactory,
    orchestratorMetrics: { recordBatch: (record) => monitor.recordBatch(record), recordQueueDepth: (record) => monitor.recordQueueDepth(record) },
    plugin,
    metrics(inner) {
      return {
        ...(inner?.recordFallback ? { recordFallback: (record) => inner.recordFallback!(record) } : {}),
        ...(inner?.recordBatch ? { recordBatch: (record) => inner.recordBatch!(record) } : {}),
        ...(inner?.recordQueueDepth ? { recordQueueDepth: (record) => inner.recordQueueDepth!(record) } : {}),
        ...(inner?.recordCacheStats ? { recordCacheStats: (record) => inner.recordCacheStats!(record) } : {}),
        ...(inner?.recordAlert ? { recordAlert: (record) => inner.recordAlert!(record) } : {}),
        recordRequest(record) {
          inner?.recordRequest?.(record);
          monitor.recordRequest(record);
        },
        metrics: async () => (inner ? inner.metrics() : ''),
        contentType: inner?.contentType ?? 'text/plain; version=0.0.4; charset=utf-8',
      };
    },
    attach(next) {
      runtime = next;
    },
    step,
    start() {
      logger.info?.(`tuner: on (objective ${settings.objective}, every ${interval} ms, knobs ${parameters.join(', ')}; start ${JSON.stringify(tuner.settings())})`);
      timer ??= setInterval(() => void step().catch((error: unknown) => logger.warn(`tuner: step failed: ${error instanceof Error ? error.message : String(error)}`)), interval);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}

/**
 * `startServer`'s options with the tuner added (none: unchanged): requests also reach its monitor,
 * `GET /v1/tuner` (and the gate) come after the other plugins, and the timer stops on shutdown.
 */
export function withTuner(tuner: TunerWiring | undefined, options: StartServerOptions): StartServerOptions {
  if (tuner === undefined) return options;
  return {
    ...options,
    metrics: tuner.metrics(options.metrics),
    plugins: [...(options.plugins ?? []), tuner.plugin],
    onClosed: async () => {
      tuner.stop();
      await options.onClosed?.();
    },
  };
}
