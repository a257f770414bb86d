import { InvalidRequestError, MuaiError, combineMetricsSinks, toMuaiError, toTracer } from '@muai/core';
import type { MetricsSink, RequestRecord, Tracer, TracerInput } from '@muai/core';
import { consoleLogger, reportOnce, safely } from './internal/logger.js';
import type { Logger } from './internal/logger.js';
import { ModelManager } from './model-manager.js';
import type { Retriever } from './retrieval/retriever.js';
import { Router } from './router.js';
import type { RoutingDecision } from './router.js';
import type { BaseWorkflow } from './workflows/base-workflow.js';
import { ChatWorkflow } from './workflows/chat.js';
import { SearchQAWorkflow } from './workflows/search-qa.js';
import { SummarizeWorkflow } from './workflows/summarize.js';
import type { WorkflowParameters, WorkflowResult } from './workflows/types.js';

/** A request to the orchestrator: a workflow's parameters, plus an optional workflow name. Only `query` is required. */
export interface OrchestratorRequest extends WorkflowParameters {
  /** Run this workflow instead of letting the Router choose. */
  workflow?: string;
}

/** A performance monitor: a metrics sink whose rolling windows the anomaly detector reads (@muai/monitoring's `PerformanceMonitor` fits). */
export interface PerformanceMonitorLike extends Partial<MetricsSink> {
  /** A snapshot of the rolling windows; handed to the anomaly detector after every request. */
  snapshot?(): unknown;
}

/** An anomaly detector (the seed's `anomaly_detector`). Sees the performance monitor's snapshot (or the request record) after every request. */
export interface AnomalyDetectorLike {
  observe(snapshot: unknown): unknown;
}

export interface OrchestratorOptions {
  /** Default: `new Router()` (default_workflow `search_qa`, threshold 0.5). */
  router?: Router;
  /** Default: `new ModelManager()` (embedded engine, default model). */
  modelManager?: ModelManager;
  /** Extra or replacement workflows, by their `name`. The built-in chat, search_qa and summarize are always there unless replaced. */
  workflows?: readonly BaseWorkflow[];
  /** Retriever of the built-in search_qa workflow. Default: BM25 over the project's docs/. */
  retriever?: Retriever;
  /** Sees every request (`recordRequest`, status ok or error). The seed's name; `metrics` is the general form. */
  prometheusExporter?: Partial<MetricsSink>;
  /** Any other metrics sink that sees every request. */
  metrics?: Partial<MetricsSink>;
  /** Spans `orchestrator.execute` > workflow > inference (> engine call, when the ModelManager has the tracer too). */
  tracer?: TracerInput;
  /** Records latency, tokens and errors of every request. */
  performanceMonitor?: PerformanceMonitorLike;
  /** Sees the performance monitor's snapshot after every request. */
  anomalyDetector?: AnomalyDetectorLike;
  logger?: Logger;
}

/**
 * Runs a request end to end: the Router picks a workflow, the workflow runs on the ModelManager, and
 * every monitoring component that is present sees the request. Absent ones cost nothing. Failures
 * come out as MuaiErrors with stable codes; the orchestrator keeps serving.
 */
export class Orchestrator {
  readonly router: Router;
  readonly modelManager: ModelManager;
  readonly prometheusExporter: Partial<MetricsSink> | undefined;
  /** The tracer (NOOP_TRACER when none was given). */
  readonly tracer: Tracer;
  readonly performanceMonitor: PerformanceMonitorLike | undefined;
  readonly anomalyDetector: AnomalyDetectorLike | undefined;
  private readonly workflows = new Map<string, BaseWorkflow>();
  /** Every request record goes here: the exporter, the performance monitor and `metrics`, each isolated from the others. */
  private readonly metrics: MetricsSink;
  private readonly logger: Logger;
  private readonly reported = new Set<string>();

  constructor(options: OrchestratorOptions = {}) {
    this.router = options.router ?? new Router();
    this.logger = options.logger ?? consoleLogger;
    this.modelManager = options.modelManager ?? new ModelManager({ logger: this.logger, ...(options.tracer ? { tracer: options.tracer } : {}) });
    this.prometheusExporter = options.prometheusExporter;
    this.tracer = toTracer(options.tracer);
    this.performanceMonitor = options.performanceMonitor;
    this.anomalyDetector = options.anomalyDetector;
    this.metrics = combineMetricsSinks([options.prometheusExporter, options.metrics, options.performanceMonitor], (error, method) =>
      reportOnce(this.logger, this.reported, `metrics.${method}`, error),
    );
    const common = { logger: this.logger, tracer: this.tracer };
    this.registerWorkflow(new ChatWorkflow(this.modelManager, common));
    this.registerWorkflow(new SearchQAWorkflow(this.modelManager, { ...common, ...(options.retriever ? { retriever: options.retriever } : {}) }));
    this.registerWorkflow(new SummarizeWorkflow(this.modelManager, common));
    for (const workflow of options.workflows ?? []) this.registerWorkflow(workflow);
  }

  /** Adds a workflow (or replaces the one with the same name). */
  registerWorkflow(workflow: BaseWorkflow): void {
    this.workflows.set(workflow.name, workflow);
  }

  workflowNames(): string[] {
    return [...this.workflows.keys()];
  }

  /** Where a request would go, without running it. */
  route(request: Pick<OrchestratorRequest, 'query' | 'workflow'>): RoutingDecision {
    return this.router.route(request);
  }

  async execute(request: OrchestratorRequest): Promise<WorkflowResult> {
    const started = performance.now();
    let decision: RoutingDecision | undefined;
    const run = async (): Promise<WorkflowResult> => {
      if (typeof request !== 'object' || request === null || typeof request.query !== 'string' || request.query.trim() === '') {
        throw new InvalidRequestError('The query is empty. Pass a non-empty `query` string, e.g. { query: "What is AI?" }.');
      }
      decision = this.router.route(request);
      const workflow = this.workflows.get(decision.workflow);
      if (!workflow) {
        throw new MuaiError('WORKFLOW_NOT_FOUND', `Workflow "${decision.workflow}" does not exist. Available workflows: ${this.workflowNames().join(', ')}.`, {
          details: { workflow: decision.workflow, available: this.workflowNames() },
        });
      }
      const { workflow: _workflow, ...parameters } = request;
      const result = await workflow.execute(parameters);
      return { ...result, routing: decision };
    };
    try {
      const result = await this.tracer.traceOrchestrator(() => run());
      this.observe({
        workflow: result.workflow,
        model: result.model,
        engine: result.engineUsed,
        status: 'ok',
        latencyMs: performance.now() - started,
        ...(result.timings.ttftMs === undefined ? {} : { ttftMs: result.timings.ttftMs }),
        ...(result.usage.completionTokens > 1 && result.timings.ttftMs !== undefined
          ? { tpotMs: Math.max(0, result.timings.generationMs - result.timings.ttftMs) / (result.usage.completionTokens - 1) }
          : {}),
        promptTokens: result.usage.promptTokens,
        completionTokens: result.usage.completionTokens,
      });
      return result;
    } catch (error) {
      const failure = toMuaiError(error, 'INTERNAL');
      const workflow = decision && this.workflows.has(decision.workflow) ? decision.workflow : 'unknown';
      const requested = typeof request?.model === 'string' ? request.model : this.modelManager.defaultModel;
      const engine = typeof failure.details.engine === 'string' ? failure.details.engine : 'none';
      this.observe({
        workflow,
        // Label values stay bounded: an unknown model name from a caller is not a label.
        model: this.modelManager.modelNames().includes(requested) ? requested : 'unknown',
        engine,
        status: failure.code === 'REQUEST_ABORTED' ? 'aborted' : 'error',
        latencyMs: performance.now() - started,
        promptTokens: 0,
        completionTokens: 0,
        errorCode: failure.code,
      });
      throw failure;
    }
  }

  /** Loads the preload models (monitoring.server.preload_models). */
  async start(): Promise<void> {
    await this.modelManager.start();
  }

  async close(): Promise<void> {
    await this.modelManager.close();
  }

  private observe(record: RequestRecord): void {
    this.metrics.recordRequest(record);
    const monitor = this.performanceMonitor;
    const detector = this.anomalyDetector;
    if (detector) {
      safely(this.logger, this.reported, 'anomalyDetector.observe', () => {
        const snapshot = monitor?.snapshot ? monitor.snapshot() : record;
        const outcome = detector.observe(snapshot);
        if (outcome instanceof Promise) outcome.catch((error: unknown) => this.logger.warn(`anomalyDetector.observe failed: ${String(error)}`));
      });
    }
  }
}
