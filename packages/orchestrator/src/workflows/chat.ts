import type { ChatMessage, TracerInput } from '@muai/core';
import { BaseWorkflow } from './base-workflow.js';
import type { WorkflowOptions } from './base-workflow.js';
import type { ModelManager } from '../model-manager.js';
import type { WorkflowParameters, WorkflowResult } from './types.js';

export interface ChatWorkflowOptions extends WorkflowOptions {
  /** System message put before the conversation. Default: a short helpful-assistant instruction; '' for none. */
  systemPrompt?: string;
}

/** `chat`: the query as the user's turn (after any earlier `messages`), answered by the model. */
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
    const contextLength = await this.contextLength(parameters);
    const messages: ChatMessage[] = [];
    if (this.systemPrompt) messages.push({ role: 'system', content: this.systemPrompt });
    messages.push(...(parameters.messages ?? []), { role: 'user', content: parameters.query });
    const generationStarted = performance.now();
    const result = await this.generate({ ...this.baseRequest(parameters, contextLength), messages });
    const generationMs = performance.now() - generationStarted;
    return {
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
