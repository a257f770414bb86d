import { configOption } from './config-option.js';
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { loadConfig, type MuaiConfig } from '@muai/config';
import { createPerformanceMonitor, createPrometheusExporter, createTracer, type PrometheusExporter } from '@muai/monitoring';
import { createOrchestratorFromConfig } from '@muai/orchestrator';
import { cliOrchestratorDefaults } from './query.js';
import { startServer, type Readiness } from '@muai/server';
import { MuaiError } from '@muai/core';
import { ModelManagerEngine } from './serving-engine.js';
import { createClusterWiring } from './cluster-wiring.js';
import { addEngineMetrics } from './engine-metrics.js';
import { createAnomalyWiring } from './anomaly-wiring.js';
import { createTunerWiring, withTuner } from './tuner-wiring.js';
import { createServeLogging } from './logging.js';
import { assertNoSelfLoop } from './self-loop.js';
import { applyServeV8Flags } from './v8-flags.js';

interface ServeOptions {
  config?: string[];
  host?: string;
  port?: string;
  model?: string;
}

/** `muai serve`: the long-running OpenAI-compatible server. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the OpenAI-compatible server (POST /v1/chat/completions, /v1/completions; /health, /ready, /metrics)')
    .addOption(configOption())
    .option('--host <host>', 'interface to bind (default monitoring.server.host, 127.0.0.1)')
    .option('--port <port>', 'port (default monitoring.server.port, 8000; 0 picks a free one)')
    .option('-m, --model <dir>', 'model folder served as "default" (default: MUAI_MODEL, else the generated tiny model)')
    .action(async (options: ServeOptions) => {
      const env = { ...process.env, ...(options.model ? { MUAI_MODEL: resolve(options.model) } : {}) };
      // Before any engine or worker thread starts: see ./v8-flags.ts (MUAI_V8_INCREMENTAL_MARKING=1 opts out).
      applyServeV8Flags(env);
      const loaded = await loadConfig({ ...(options.config ? { files: options.config } : {}), env });
      for (const warning of loaded.warnings) process.stderr.write(`muai: warning: ${warning.message}\n`);
      // optimization.onnx.worker_thread unset: the server runs ONNX Runtime in a worker thread, so
      // that HTTP, metrics and tracing on the main thread never wait for a decode step (and the
      // tracer's async context tracking does not tax the decode loop). `false` keeps it in process.
      const config = withServerDefaults(loaded.config);
      const monitoring = config.monitoring;
      const server = monitoring.server;
      // A server must never call itself: refuse remote endpoints that are this server's own address.
      assertNoSelfLoop(config, options.host ?? server.host, options.port !== undefined ? Number(options.port) : server.port);

      let exporter: PrometheusExporter | undefined;
      if (monitoring.enabled && monitoring.prometheus.enabled) {
        exporter = createPrometheusExporter({ port: monitoring.prometheus.port, host: monitoring.prometheus.host, path: monitoring.prometheus.path, vllmCompatible: monitoring.prometheus.vllm_compatible });
      } else if (monitoring.enabled && server.expose_metrics) {
        // Metrics on the server's own /metrics only, no separate exporter port.
        exporter = createPrometheusExporter({ vllmCompatible: monitoring.prometheus.vllm_compatible });
      }
      const tracer = monitoring.enabled && monitoring.tracing.enabled
        ? createTracer({ endpoint: monitoring.tracing.endpoint, protocol: monitoring.tracing.protocol, sampleRate: monitoring.tracing.sample_rate, recordPrompts: monitoring.tracing.record_prompts, serviceName: monitoring.tracing.service_name })
        : undefined;
      const performanceMonitor = monitoring.enabled ? createPerformanceMonitor() : undefined;
      // monitoring.anomaly (opt-in): detectors, alert delivery, GET /v1/alerts; see ./anomaly-wiring.ts.
      const anomaly = performanceMonitor ? createAnomalyWiring({ config, performanceMonitor, ...(exporter ? { exporter } : {}) }) : undefined;
      // JSON lines on stdout and in logs/muai.log (monitoring.logging.*); see ./logging.ts.
      const logging = createServeLogging({ config: monitoring.logging, formatIsDefault: loaded.sources['monitoring.logging.format'] === 'default' });
      // optimization.tuner (opt-in): online tuning of batch size, wait and concurrency; see ./tuner-wiring.ts.
      const tuner = createTunerWiring({ config, ...(exporter ? { exporter } : {}), logger: logging.logger });
      // Relative model paths in the config resolve against the working directory.
      const baseDirectory = process.cwd();
      // cluster.* (opt-in): state shared by replicas in Redis; see ./cluster-wiring.ts.
      const cluster = createClusterWiring(config, { exporter });
      const runtime = createOrchestratorFromConfig(config, {
        env,
        baseDirectory,
        ...(cluster && Object.keys(cluster.engines).length > 0 ? { engines: cluster.engines } : {}),
        ...cliOrchestratorDefaults(),
        logger: logging.logger,
        ...(exporter ? { prometheusExporter: exporter } : {}),
        ...(tracer ? { tracer } : {}),
        ...(performanceMonitor ? { performanceMonitor } : {}),
        ...(anomaly ? { anomalyDetector: anomaly.orchestratorDetector } : {}),
        ...(tuner ? { batcherFactory: tuner.batcherFactory, metrics: tuner.orchestratorMetrics } : {}),
      });
      tuner?.attach(runtime);
      if (exporter) addEngineMetrics(exporter, runtime);
      if (exporter && monitoring.prometheus.enabled && monitoring.prometheus.port !== (options.port ? Number(options.port) : server.port)) {
        await exporter.startServer();
      }
      // Ready once the models it serves have loaded: the preload list, else the default model (a
      // server whose default model cannot load is not ready, and /ready says why).
      const engine = new ModelManagerEngine(runtime.modelManager);
      const preloadModels = server.preload_models.length > 0 ? server.preload_models : [runtime.modelManager.defaultModel];
      let readiness: Readiness = { ready: false };
      void runtime.modelManager.preload(preloadModels).then(
        () => {
          readiness = { ready: true };
          for (const model of preloadModels) engine.modelLoaded(model);
        },
        (error: unknown) => {
          const reason = MuaiError.isInstance(error) ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error);
          readiness = { ready: false, reason };
          for (const model of preloadModels) engine.modelFailed(model, reason);
          process.stderr.write(`muai: loading ${preloadModels.join(', ')} failed, /ready answers 503: ${reason}\n`);
        },
      );
      const running = await startServer(withTuner(tuner, {
        engine,
        defaultModel: runtime.modelManager.defaultModel,
        host: options.host ?? server.host,
        port: options.port !== undefined ? Number(options.port) : server.port,
        ...(server.api_key || server.api_keys.length > 0 ? { apiKey: [...(server.api_key ? [server.api_key] : []), ...server.api_keys] } : {}),
        ...(server.max_concurrent_requests > 0 ? { maxConcurrentRequests: server.max_concurrent_requests } : {}),
        bodyLimitBytes: server.body_limit_bytes,
        limits: { maxTokensLimit: server.max_tokens_limit, maxPromptChars: server.max_prompt_tokens * 16 },
        drainTimeoutMs: server.drain_timeout_ms,
        isReady: () => readiness,
        handleSignals: true,
        ...(exporter && (server.expose_metrics || !monitoring.prometheus.enabled) ? { metrics: exporter } : {}),
        ...(anomaly ? { metrics: anomaly.metrics(exporter && (server.expose_metrics || !monitoring.prometheus.enabled) ? exporter : undefined), plugins: [anomaly.plugin] } : {}),
        ...(tracer ? { tracer: logging.traceRequests(tracer) } : {}),
        logger: logging.fastifyLogger,
        ...(cluster ? { plugins: [...(anomaly ? [anomaly.plugin] : []), ...cluster.plugins] } : {}),
        onClosed: async () => {
          await cluster?.close();
          await anomaly?.stop();
          await runtime.close();
          await exporter?.stopServer();
          await tracer?.shutdown();
          await logging.close();
        },
      }));
      anomaly?.start();
      tuner?.start();
      const onnxMode = config.optimization.onnx.worker_thread === true ? 'ONNX Runtime in a worker thread' : 'ONNX Runtime in process';
      const exporterAddress = exporter?.address();
      const metricsAt = exporterAddress ? `metrics http://${exporterAddress.host}:${exporterAddress.port}${monitoring.prometheus.path}` : exporter && (server.expose_metrics || !monitoring.prometheus.enabled) ? `metrics ${running.url}/metrics` : 'metrics off';
      process.stderr.write(`muai: serving on ${running.url} (OpenAI-compatible: ${running.url}/v1; health ${running.url}/health; ${metricsAt}; ${onnxMode})\n`);
      // Keep running until SIGTERM/SIGINT: startServer drains and exits.
      await new Promise<void>(() => {});
    });
}

/** `muai serve`'s defaults for keys whose unset value means "the best choice for this command". */
export function withServerDefaults(config: MuaiConfig): MuaiConfig {
  const onnx = config.optimization.onnx;
  if (onnx.worker_thread !== undefined) return config;
  return { ...config, optimization: { ...config.optimization, onnx: { ...onnx, worker_thread: true } } };
}
