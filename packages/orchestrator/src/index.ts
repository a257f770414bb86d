export { OptimizationManager } from './optimization-manager.js';
export type {
  BatcherFactory,
  BatcherFactoryOptions,
  BatcherLike,
  EngineFactory,
  EngineFactoryContext,
  EngineStreamChunk,
  GenerationInputs,
  InferenceResult,
  ModelEntry,
  OptimizationManagerOptions,
  OptimizationStats,
} from './optimization-manager.js';
export { DEFAULT_ENGINE_PREFERENCE, canonicalEngineName, normalizeOptimizationConfig } from './optimization-config.js';
export type {
  BatcherSectionInput,
  CacheSectionInput,
  EngineSectionInput,
  OptimizationConfigInput,
  OptimizationSettings,
} from './optimization-config.js';
export { loadOptimizationConfig } from '@muai/config';
export { ModelManager } from './model-manager.js';
export type { LoadedModel, ModelConfigInput, ModelManagerConfigInput, ModelManagerOptions } from './model-manager.js';
export { Router, DEFAULT_ROUTING_RULES, rulesFromConfig } from './router.js';
export type { RouterRuleInput, RouterConfigInput, RouterOptions, RoutingDecision, RoutingRule } from './router.js';
export { BaseWorkflow } from './workflows/base-workflow.js';
export type { WorkflowOptions } from './workflows/base-workflow.js';
export { ChatWorkflow } from './workflows/chat.js';
export type { ChatWorkflowOptions } from './workflows/chat.js';
export { SearchQAWorkflow, buildGroundedPrompt } from './workflows/search-qa.js';
export type { SearchQAWorkflowOptions } from './workflows/search-qa.js';
export { SummarizeWorkflow, textToSummarize } from './workflows/summarize.js';
export type { SummarizeWorkflowOptions } from './workflows/summarize.js';
export type { Source, WorkflowParameters, WorkflowResult, WorkflowTimings } from './workflows/types.js';
export { LocalRetriever, chunkDocument } from './retrieval/local-retriever.js';
export type { LocalRetrieverOptions } from './retrieval/local-retriever.js';
export { HttpSearchRetriever, defaultMapResult } from './retrieval/http-retriever.js';
export type { HttpSearchRetrieverOptions } from './retrieval/http-retriever.js';
export { Bm25Index, tokenize } from './retrieval/bm25.js';
export type { Bm25Options } from './retrieval/bm25.js';
export type { Passage, RetrieveOptions, Retriever } from './retrieval/retriever.js';
export { Orchestrator } from './orchestrator.js';
export type { OrchestratorOptions, OrchestratorRequest } from './orchestrator.js';
export { createOrchestratorFromConfig } from './create-orchestrator.js';
export type { CreateOrchestratorOptions, OrchestratorConfigInput, OrchestratorRuntime } from './create-orchestrator.js';
export type { AnomalyDetectorLike, PerformanceMonitorLike } from './orchestrator.js';
// The tracing and metrics contracts live in @muai/core; re-exported for the first release's imports.
export type { FallbackRecord, MetricsSink, RequestRecord, SpanAttributes, Span as SpanLike } from '@muai/core';
// What the orchestrator accepts as a tracer: any part of @muai/core's `Tracer` (the rest is completed with no-op spans).
export type { TracerInput as TracerLike } from '@muai/core';
export type { Logger } from './internal/logger.js';
export { plainPrompt } from './workflows/prompt-fit.js';
// The folder of the model `default` falls back to (the bundled stories260K); it lives in @muai/models.
export { defaultModelPath } from '@muai/models';
