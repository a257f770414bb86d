import type { ChatMessage, FinishReason, Usage } from '@muai/core';
import type { RoutingDecision } from '../router.js';

/** Parameters of `workflow.execute(parameters)`. Only `query` is required. */
export interface WorkflowParameters {
  /** The user's query (for `summarize`: the text, or an instruction followed by the text). */
  query: string;
  /** Model name (`models.<name>`). Default: the workflow's, else the ModelManager's default. */
  model?: string;
  /** Maximum new tokens. Default: the workflow's (128). */
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop?: readonly string[];
  /** Earlier turns for `chat`. */
  messages?: readonly ChatMessage[];
  /** Text to summarize for `summarize` (then `query` is the instruction). */
  text?: string;
  /** Passages to retrieve for `search_qa`. Default 3. */
  topKPassages?: number;
  signal?: AbortSignal;
}

/** A numbered source the answer may cite as [index]. */
export interface Source {
  /** 1-based, as in the prompt: `[1]`, `[2]`, ... */
  index: number;
  /** File path relative to the indexed folder, or a URL. */
  source: string;
  title?: string;
  /** The passage given to the model. */
  text: string;
  score: number;
}

/** Timings of one workflow run, in milliseconds. */
export interface WorkflowTimings {
  totalMs: number;
  /** Time spent in the model (all generation calls). */
  generationMs: number;
  /** Time spent retrieving passages (`search_qa`). */
  retrievalMs?: number;
  /** Time to first token of the final generation, as the engine reports it. */
  ttftMs?: number;
  tokensPerSecond?: number;
}

/** What every workflow returns. */
export interface WorkflowResult {
  /** Workflow name: `chat`, `search_qa`, `summarize`, ... */
  workflow: string;
  /** The answer text. */
  output: string;
  /** Sources of a grounded answer (`search_qa`), numbered as cited. */
  sources?: Source[];
  model: string;
  /** The engine that generated the answer. */
  engineUsed: string;
  finishReason: FinishReason;
  usage: Usage;
  timings: WorkflowTimings;
  /** How the router chose the workflow (set by the Orchestrator). */
  routing?: RoutingDecision;
  /** Things that went wrong but did not stop the answer (e.g. a search service that was down). */
  warnings?: string[];
}
