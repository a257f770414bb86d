import { InvalidRequestError, type TracerInput } from '@muai/core';
import type { ModelManager } from '../model-manager.js';
import { BaseWorkflow } from './base-workflow.js';
import { keepStart } from './prompt-fit.js';
import type { WorkflowOptions } from './base-workflow.js';
import type { WorkflowParameters, WorkflowResult } from './types.js';

export interface SummarizeWorkflowOptions extends WorkflowOptions {
  /** Characters of input text sent at most (cut further if the model's window is small). Default 6000. */
  maxInputChars?: number;
}

const SYSTEM = 'Summarize the user text in a few sentences. Keep facts, drop detail.';

const INSTRUCTION = /^\s*(please\s+)?(summari[sz]e|tl;?dr|sum up|condense)\b[^:\n]*?(:|\n|$)/i;

/** Splits "Summarize this: <text>" into the text; returns the query unchanged when there is no instruction. */
export function textToSummarize(query: string): string {
  const match = INSTRUCTION.exec(query);
  return (match ? query.slice(match[0].length) : query).trim();
}

/** `summarize`: summarizes `parameters.text`, or the text after an instruction in the query. */
export class SummarizeWorkflow extends BaseWorkflow {
  static readonly workflowName = 'summarize';
  readonly name = 'summarize';
  private readonly maxInputChars: number;

  constructor(modelManager: ModelManager, tracerOrOptions: TracerInput | SummarizeWorkflowOptions = {}) {
    super(modelManager, tracerOrOptions);
    this.maxInputChars = (this.options as SummarizeWorkflowOptions).maxInputChars ?? 6000;
  }

  protected async _executeImpl(parameters: WorkflowParameters): Promise<WorkflowResult> {
    const started = performance.now();
    const text = parameters.text ?? textToSummarize(parameters.query);
    if (text === '') {
      throw new InvalidRequestError('There is nothing to summarize. Put the text after the instruction ("Summarize: <text>"), or pass it as `text`.');
    }
    const warnings: string[] = [];
    const generationStarted = performance.now();
    const { result, prompt } = await this.generateFitted(parameters, this.maxInputChars + SYSTEM.length, (budget) => {
      // The text is what can be cut (its end goes first); the instruction stays.
      const input = keepStart(text, Math.max(budget - SYSTEM.length, 1));
      return { messages: [{ role: 'system' as const, content: SYSTEM }, { role: 'user' as const, content: input }], inputChars: input.length };
    });
    const budget = prompt.inputChars;
    if (budget < text.length) warnings.push(`The text was cut to its first ${budget} of ${text.length} characters to fit the model's context window.`);
    const workflowResult: WorkflowResult = {
      workflow: this.name,
      output: result.text.trim(),
      model: result.model,
      engineUsed: result.engineUsed,
      finishReason: result.finishReason,
      usage: result.usage,
      timings: { totalMs: performance.now() - started, generationMs: performance.now() - generationStarted, ttftMs: result.timings.ttftMs, tokensPerSecond: result.timings.tokensPerSecond },
    };
    if (warnings.length > 0) workflowResult.warnings = warnings;
    return workflowResult;
  }
}
