import { MuaiError } from '@muai/core';
import type { ChatMessage, TracerInput } from '@muai/core';
import { LocalRetriever } from '../retrieval/local-retriever.js';
import type { Passage, Retriever } from '../retrieval/retriever.js';
import type { ModelManager } from '../model-manager.js';
import { BaseWorkflow } from './base-workflow.js';
import { keepStart } from './prompt-fit.js';
import type { WorkflowOptions } from './base-workflow.js';
import type { Source, WorkflowParameters, WorkflowResult } from './types.js';

export interface SearchQAWorkflowOptions extends WorkflowOptions {
  /** Where passages come from. Default: a LocalRetriever with no folder, which finds nothing (pass `new LocalRetriever({ directory })`). */
  retriever?: Retriever;
  /** Passages per question. Default 3. */
  topK?: number;
  /** Characters of prompt (instruction, passages, question) at most; cut further to fit the model's window with room for the answer. Default 3000. */
  maxContextChars?: number;
  /** What to do when the retriever fails: `continue` answers without sources and adds a warning; `fail` throws. Default `continue`. */
  onRetrieverError?: 'continue' | 'fail';
}

const INSTRUCTION =
  'Answer the question using only the numbered sources. Cite the sources you use as [1], [2]. If the sources do not contain the answer, say so.';

/** Passages shorter than this after cutting are left out rather than sent as a stub. */
const MIN_PASSAGE_CHARS = 80;

/**
 * Builds the grounded prompt within `budget` characters in total (instruction, sources, question).
 * What matters least goes first: the lowest-ranked passages are dropped, then the last kept one is
 * cut; the question and instruction always stay. `used` lists the passages in the prompt.
 */
export function buildGroundedPrompt(query: string, passages: readonly Passage[], budget: number): { messages: ChatMessage[]; used: Passage[]; cut: boolean } {
  const question = `Question: ${query}`;
  let remaining = budget - INSTRUCTION.length - question.length - 'Sources:\n\n\n'.length;
  const used: Passage[] = [];
  const blocks: string[] = [];
  let cut = false;
  for (const passage of passages) {
    const header = `[${used.length + 1}] ${passage.title ? `${passage.title} (${passage.source})` : passage.source}\n`;
    const room = remaining - header.length - 2;
    if (room < Math.min(MIN_PASSAGE_CHARS, passage.text.length)) break;
    const text = keepStart(passage.text, room);
    if (text.length < passage.text.length) cut = true;
    used.push(passage);
    blocks.push(`${header}${text}`);
    remaining -= header.length + text.length + 2;
  }
  const context = blocks.length > 0 ? `Sources:\n${blocks.join('\n\n')}\n\n` : 'Sources: none found.\n\n';
  return {
    messages: [
      { role: 'system', content: INSTRUCTION },
      { role: 'user', content: `${context}${question}` },
    ],
    used,
    cut: cut || used.length < passages.length,
  };
}

/**
 * `search_qa`: retrieves passages, builds a grounded prompt with numbered sources, and answers citing
 * them. `new SearchQAWorkflow(manager, { retriever: new LocalRetriever({ directory: 'docs' }) })` searches a
 * folder with BM25; the prompt is fitted to the model's window (lowest-ranked passages dropped first).
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

    const generationStarted = performance.now();
    const { result, prompt } = await this.generateFitted(parameters, this.qaOptions.maxContextChars ?? 3000, (budget) => buildGroundedPrompt(parameters.query, passages, budget));
    const generationMs = performance.now() - generationStarted;
    const used = prompt.used;
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
