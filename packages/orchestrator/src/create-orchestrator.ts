import type { Logger } from './internal/logger.js';
import { consoleLogger } from './internal/logger.js';
import { LocalRetriever } from './retrieval/local-retriever.js';
import type { Retriever } from './retrieval/retriever.js';
import { ModelManager } from './model-manager.js';
import type { ModelManagerConfigInput } from './model-manager.js';
import { combineMetricsSinks } from '@muai/core';
import type { MetricsSink, TracerInput } from '@muai/core';
import type { OptimizationConfigInput } from './optimization-config.js';
import { OptimizationManager } from './optimization-manager.js';
import type { BatcherFactory, EngineFactory } from './optimization-manager.js';
import { Orchestrator } from './orchestrator.js';
import type { AnomalyDetectorLike, PerformanceMonitorLike } from './orchestrator.js';
import { Router } from './router.js';
import type { RouterConfigInput } from './router.js';

/** The parts of a loaded @muai/config config this function reads (a `MuaiConfig` fits). */
export type OrchestratorConfigInput = ModelManagerConfigInput & {
  router?: RouterConfigInput | undefined;
  optimization?: OptimizationConfigInput | undefined;
};

export interface CreateOrchestratorOptions {
  /** Environment (`MUAI_MODEL`). Config variables (`MUAI_OPT_*`, `MUAI_MON_*`) are applied by @muai/config's loader. Default `process.env`. */
  env?: Record<string, string | undefined>;
  logger?: Logger;
  /** Engine factories replacing the built-in loaders (tests, custom engines). */
  engines?: Record<string, EngineFactory>;
  batcherFactory?: BatcherFactory;
  importModule?: (specifier: string) => Promise<unknown>;
  /** Retriever for search_qa. Default: BM25 over `docsDirectory`. */
  retriever?: Retriever;
  /** Folder the default retriever indexes. Default: none (search_qa answers without sources); the muai CLI passes the docs it ships with. */
  docsDirectory?: string;
  /** Folder of the `default` model when MUAI_MODEL is unset. Default: the model bundled with @muai/models (stories260K). */
  defaultModelPath?: string;
  /** Models kept loaded at once. Default 3. */
  maxLoadedModels?: number;
  /** Folder relative model paths are resolved against (usually the config file's folder). Default: the current directory. */
  baseDirectory?: string;
  /** Sees every request, engine fallback and batch (a @muai/monitoring PrometheusExporter fits). */
  prometheusExporter?: Partial<MetricsSink>;
  /** Any other metrics sink that sees the same records. */
  metrics?: Partial<MetricsSink>;
  /** Spans orchestrator > workflow > inference > engine call (> batch); given to the Orchestrator and both managers. */
  tracer?: TracerInput;
  performanceMonitor?: PerformanceMonitorLike;
  anomalyDetector?: AnomalyDetectorLike;
}

/** Everything `createOrchestratorFromConfig` built, for callers that need the parts. */
export interface OrchestratorRuntime {
  orchestrator: Orchestrator;
  router: Router;
  modelManager: ModelManager;
  optimizationManager: OptimizationManager;
  /** Unloads models and closes engines. */
  close(): Promise<void>;
}

/**
 * Builds Router, OptimizationManager, ModelManager and Orchestrator from a loaded config in one call
 * (what the CLI and the server do). Monitoring components are passed in: build them from
 * `config.monitoring` with @muai/monitoring, or leave them out to pay nothing.
 */
export function createOrchestratorFromConfig(config: OrchestratorConfigInput = {}, options: CreateOrchestratorOptions = {}): OrchestratorRuntime {
  const logger = options.logger ?? consoleLogger;
  const env = options.env ?? process.env;
  const optimizationManager = new OptimizationManager(config.optimization ?? { enabled: false }, {
    logger,
    env,
    ...(options.engines ? { engines: options.engines } : {}),
    ...(options.batcherFactory ? { batcherFactory: options.batcherFactory } : {}),
    ...(options.importModule ? { importModule: options.importModule } : {}),
    ...(options.baseDirectory ? { baseDirectory: options.baseDirectory } : {}),
    ...(options.defaultModelPath !== undefined ? { defaultModelPath: options.defaultModelPath } : {}),
    metrics: combineMetricsSinks([options.prometheusExporter, options.metrics, options.performanceMonitor]),
    ...(options.tracer ? { tracer: options.tracer } : {}),
  });
  const modelManager = new ModelManager({
    config,
    optimizationManager,
    logger,
    env,
    ...(options.defaultModelPath !== undefined ? { defaultModelPath: options.defaultModelPath } : {}),
    ...(options.maxLoadedModels === undefined ? {} : { maxLoadedModels: options.maxLoadedModels }),
    ...(options.tracer ? { tracer: options.tracer } : {}),
  });
  const router = Router.fromConfig(config.router ?? {});
  const retriever = options.retriever ?? new LocalRetriever(options.docsDirectory ? { directory: options.docsDirectory } : {});
  const orchestrator = new Orchestrator({
    router,
    modelManager,
    retriever,
    logger,
    ...(options.prometheusExporter ? { prometheusExporter: options.prometheusExporter } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.tracer ? { tracer: options.tracer } : {}),
    ...(options.performanceMonitor ? { performanceMonitor: options.performanceMonitor } : {}),
    ...(options.anomalyDetector ? { anomalyDetector: options.anomalyDetector } : {}),
  });
  return { orchestrator, router, modelManager, optimizationManager, close: () => orchestrator.close() };
}
