import type { ChatMessage, TracerInput } from '@muai/core';
import { BaseWorkflow } from './base-workflow.js';
import { keepEnd } from './prompt-fit.js';
import type { WorkflowOptions } from './base-workflow.js';
import type { ModelManager } from '../model-manager.js';
import type { WorkflowParameters, WorkflowResult } from './types.js';

export interface ChatWorkflowOptions extends WorkflowOptions {
  /** System message put before the conversation. Default: a short helpful-assistant instruction; '' for none. */
  systemPrompt?: string;
}

/**
 * The conversation within `budget` characters: the system prompt, then as many of the most recent
 * earlier messages as fit (the oldest go first), then the query; a query longer than the whole
 * budget keeps its end. `historyKept` counts the earlier messages kept.
 */
export function fitConversation(systemPrompt: string, history: readonly ChatMessage[], query: string, budget: number): { messages: ChatMessage[]; historyKept: number; queryCut: boolean } {
  const system: ChatMessage[] = systemPrompt ? [{ role: 'system', content: systemPrompt }] : [];
  let remaining = budget - systemPrompt.length;
  const content = keepEnd(query, Math.max(remaining, 0));
  remaining -= content.length;
  let first = history.length;
  while (first > 0 && history[first - 1]!.content.length <= remaining) {
    remaining -= history[first - 1]!.content.length;
    first -= 1;
  }
  return { messages: [...system, ...history.slice(first), { role: 'user', content }], historyKept: history.length - first, queryCut: content !== query };
}

/** `chat`: the query as the user's turn (after any earlier `messages`), answered by the model; the oldest turns are left out when the window is full. */
export class ChatWorkflow extends BaseWorkflow {
  static readonly workflowName = 'chat';
  readonly name = 'chat';
  private readonly systemPrompt: string;

  constructor(modelManager: ModelManager, tracerOrOptions: TracerInput | ChatWorkflowOptions = {}) {
    super(modelManager, tracerOrOptions);
    this.systemPrompt = (this.options as ChatWorkflowOptions).systemPrompt ?? 'You are a helpful assistant. Answer briefly.';
  }

  protected async _executeImpl(parameters: WorkflowParameters): Promise<WorkflowResult> {
    const started = performance.now();
    const history = [...(parameters.messages ?? [])];
    const generationStarted = performance.now();
    const { result, prompt } = await this.generateFitted(parameters, Number.POSITIVE_INFINITY, (budget) => fitConversation(this.systemPrompt, history, parameters.query, budget));
    const generationMs = performance.now() - generationStarted;
    const dropped = history.length - prompt.historyKept;
    const warnings: string[] = [];
    if (dropped > 0) warnings.push(`The ${dropped} oldest of ${history.length} earlier messages were left out to fit the model's context window.`);
    if (prompt.queryCut) warnings.push("The start of the message was cut to fit the model's context window.");
    return {
      ...(warnings.length > 0 ? { warnings } : {}),
      workflow: this.name,
      output: result.text.trim(),
      model: result.model,
      engineUsed: result.engineUsed,
      finishReason: result.finishReason,
      usage: result.usage,
      timings: { totalMs: performance.now() - started, generationMs, ttftMs: result.timings.ttftMs, tokensPerSecond: result.timings.tokensPerSecond },
    };
  }
}
