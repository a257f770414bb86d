import { MuaiError } from '@muai/core';
import type { ChatMessage, TracerInput } from '@muai/core';
import { LocalRetriever } from '../retrieval/local-retriever.js';
import type { Passage, Retriever } from '../retrieval/retriever.js';
import type { ModelManager } from '../model-manager.js';
import { BaseWorkflow } from './base-workflow.js';
import type { WorkflowOptions } from './base-workflow.js';
import type { Source, WorkflowParameters, WorkflowResult } from './types.js';

export interface SearchQAWorkflowOptions extends WorkflowOptions {
  /** Where passages come from. Default: a LocalRetriever (BM25) over the project's docs/ folder. */
  retriever?: Retriever;
  /** Passages per question. Default 3. */
  topK?: number;
  /** Characters of passage text put in the prompt at most (cut further if the model's window is small). Default 2400. */
  maxContextChars?: number;
  /** What to do when the retriever fails: `continue` answers without sources and adds a warning; `fail` throws. Default `continue`. */
  onRetrieverError?: 'continue' | 'fail';
}

const INSTRUCTION =
  'Answer the question using only the numbered sources. Cite the sources you use as [1], [2]. If the sources do not contain the answer, say so.';

/** Builds the grounded prompt: numbered sources, each cut to fit `budget` characters in total. */
export function buildGroundedPrompt(query: string, passages: readonly Passage[], budget: number): { messages: ChatMessage[]; used: Passage[] } {
  const used: Passage[] = [];
  const blocks: string[] = [];
  const perPassage = passages.length > 0 ? Math.floor(budget / passages.length) : 0;
  for (const passage of passages) {
    if (perPassage < 40) break;
    const text = passage.text.length > perPassage ? `${passage.text.slice(0, perPassage).trimEnd()}…` : passage.text;
    used.push(passage);
    blocks.push(`[${used.length}] ${passage.title ? `${passage.title} (${passage.source})` : passage.source}\n${text}`);
  }
  const context = blocks.length > 0 ? `Sources:\n${blocks.join('\n\n')}\n\n` : 'Sources: none found.\n\n';
  return {
    messages: [
      { role: 'system', content: INSTRUCTION },
      { role: 'user', content: `${context}Question: ${query}` },
    ],
    used,
  };
}

/**
 * `search_qa`: retrieves passages, builds a grounded prompt with numbered sources, and answers citing
 * them. `new SearchQAWorkflow(new ModelManager()).execute({ query: 'What is AI?' })` works with no setup:
 * it searches the project's docs/ folder with BM25.
 */
export class SearchQAWorkflow extends BaseWorkflow {
  static readonly workflowName = 'search_qa';
  readonly name = 'search_qa';
  readonly retriever: Retriever;
  private readonly qaOptions: SearchQAWorkflowOptions;

  constructor(modelManager: ModelManager, tracerOrOptions: TracerInput | SearchQAWorkflowOptions = {}) {
    super(modelManager, tracerOrOptions);
    this.qaOptions = this.options as SearchQAWorkflowOptions;
    this.retriever = this.qaOptions.retriever ?? new LocalRetriever();
  }

  protected async _executeImpl(parameters: WorkflowParameters): Promise<WorkflowResult> {
    const started = performance.now();
    const warnings: string[] = [];
    const topK = parameters.topKPassages ?? this.qaOptions.topK ?? 3;
    const retrieve = async () => {
      try {
        return await this.retriever.retrieve(parameters.query, parameters.signal ? { topK, signal: parameters.signal } : { topK });
      } catch (error) {
        if (this.qaOptions.onRetrieverError === 'fail' || MuaiError.hasCode(error, 'REQUEST_ABORTED')) throw error;
        const message = `Retrieval failed, answering without sources: ${error instanceof Error ? error.message : String(error)}`;
        this.logger.warn(message);
        warnings.push(message);
        return [];
      }
    };
    const passages = await this.tracer.withSpan('retrieval', { 'muai.retrieval.top_k': topK }, retrieve);
    const retrievalMs = performance.now() - started;

    const contextLength = await this.contextLength(parameters);
    const generationStarted = performance.now();
    const { value } = await this.withShrinkingBudget(this.qaOptions.maxContextChars ?? 2400, async (budget) => {
      const prompt = buildGroundedPrompt(parameters.query, passages, budget);
      const result = await this.generate({ ...this.baseRequest(parameters, contextLength), messages: prompt.messages });
      return { result, used: prompt.used };
    });
    const generationMs = performance.now() - generationStarted;
    const { result, used } = value;
    if (used.length < passages.length) warnings.push(`Only ${used.length} of ${passages.length} passages fit the model's context window.`);
    const sources: Source[] = used.map((passage, position) => {
      const source: Source = { index: position + 1, source: passage.source, text: passage.text, score: passage.score };
      if (passage.title !== undefined) source.title = passage.title;
      return source;
    });
    const workflowResult: WorkflowResult = {
      workflow: this.name,
      output: result.text.trim(),
      sources,
      model: result.model,
      engineUsed: result.engineUsed,
      finishReason: result.finishReason,
      usage: result.usage,
      timings: { totalMs: performance.now() - started, generationMs, retrievalMs, ttftMs: result.timings.ttftMs, tokensPerSecond: result.timings.tokensPerSecond },
    };
    if (warnings.length > 0) workflowResult.warnings = warnings;
    return workflowResult;
  }
}
