import { InvalidRequestError, MuaiError, toMuaiError, toTracer } from '@muai/core';
import type { GenerationRequest, GenerationResult, InferenceSpanInfo, Span, Tracer, TracerInput } from '@muai/core';
import { consoleLogger } from '../internal/logger.js';
import type { Logger } from '../internal/logger.js';
import type { ModelManager } from '../model-manager.js';
import { charBudget, INITIAL_CHARS_PER_TOKEN, plainPrompt, promptChars } from './prompt-fit.js';
import type { BuiltPrompt } from './prompt-fit.js';
import type { WorkflowParameters, WorkflowResult } from './types.js';

export interface WorkflowOptions {
  /** Traces `execute` and model calls. A partial tracer (only `traceWorkflow`, as in the seed) is completed with no-op spans. */
  tracer?: TracerInput;
  /** Model used when parameters name none. Default: the ModelManager's default model. */
  model?: string;
  /** Default maximum new tokens. Default 128. */
  maxTokens?: number;
  logger?: Logger;
}

function isTracer(value: unknown): value is TracerInput {
  return typeof value === 'object' && value !== null && typeof (value as TracerInput).traceWorkflow === 'function';
}

/**
 * The base of every workflow. `execute(parameters)` validates the query, then runs `_executeImpl`
 * inside `tracer.traceWorkflow(<class name>, ...)` when a tracer is present (the seed's contract).
 * Anything thrown comes out as a MuaiError with a stable code.
 */
export abstract class BaseWorkflow {
  /** The name the Router and the Orchestrator use (`chat`, `search_qa`, ...). */
  abstract readonly name: string;
  readonly modelManager: ModelManager;
  /** The tracer (NOOP_TRACER when none was given). */
  readonly tracer: Tracer;
  protected readonly options: WorkflowOptions;
  protected readonly logger: Logger;

  /** @param tracerOrOptions a tracer (as in the seed) or WorkflowOptions. */
  constructor(modelManager: ModelManager, tracerOrOptions: TracerInput | WorkflowOptions = {}) {
    this.modelManager = modelManager;
    this.options = isTracer(tracerOrOptions) ? { tracer: tracerOrOptions } : tracerOrOptions;
    this.tracer = toTracer(this.options.tracer);
    this.logger = this.options.logger ?? consoleLogger;
  }

  async execute(parameters: WorkflowParameters): Promise<WorkflowResult> {
    try {
      this.validate(parameters);
      return await this.tracer.traceWorkflow(this.constructor.name, () => this._executeImpl(parameters));
    } catch (error) {
      throw toMuaiError(error, 'INTERNAL');
    }
  }

  protected abstract _executeImpl(parameters: WorkflowParameters): Promise<WorkflowResult>;

  protected validate(parameters: WorkflowParameters): void {
    if (typeof parameters !== 'object' || parameters === null) {
      throw new InvalidRequestError('execute() needs an object such as { query: "What is AI?" }.');
    }
    if (typeof parameters.query !== 'string' || parameters.query.trim() === '') {
      throw new InvalidRequestError('The query is empty. Pass a non-empty `query` string, e.g. { query: "What is AI?" }.');
    }
    if (parameters.maxTokens !== undefined && !(Number.isInteger(parameters.maxTokens) && parameters.maxTokens > 0)) {
      throw new InvalidRequestError(`maxTokens must be a positive integer, got ${String(parameters.maxTokens)}.`);
    }
  }

  protected modelFor(parameters: WorkflowParameters): string {
    return parameters.model ?? this.options.model ?? this.modelManager.defaultModel;
  }

  /** The generation request common to every workflow (sampling parameters, max tokens, signal). */
  protected baseRequest(parameters: WorkflowParameters, contextLength?: number): GenerationRequest {
    let maxTokens = parameters.maxTokens ?? this.options.maxTokens ?? 128;
    // A small model cannot answer at all when the answer alone fills its window: leave room for the prompt.
    if (contextLength !== undefined && contextLength > 8) maxTokens = Math.min(maxTokens, Math.floor(contextLength / 2));
    const request: GenerationRequest = { model: this.modelFor(parameters), maxTokens };
    if (parameters.temperature !== undefined) request.temperature = parameters.temperature;
    if (parameters.topP !== undefined) request.topP = parameters.topP;
    if (parameters.topK !== undefined) request.topK = parameters.topK;
    if (parameters.seed !== undefined) request.seed = parameters.seed;
    if (parameters.stop !== undefined) request.stop = parameters.stop;
    if (parameters.signal !== undefined) request.signal = parameters.signal;
    return request;
  }

  /** Runs one generation inside a GenAI inference span `{operation} {model}`. */
  protected async generate(request: GenerationRequest): Promise<GenerationResult> {
    const tracer = this.tracer;
    const model = request.model ?? this.modelManager.defaultModel;
    const info: InferenceSpanInfo = { model, operation: request.messages ? 'chat' : 'text_completion' };
    if (request.maxTokens !== undefined) info.maxTokens = request.maxTokens;
    if (request.temperature !== undefined) info.temperature = request.temperature;
    if (request.topP !== undefined) info.topP = request.topP;
    return tracer.traceInference(info, async (span: Span) => {
      const result = await this.modelManager.generate(request);
      span.setAttribute('muai.engine', result.engineUsed);
      tracer.recordUsage(span, { inputTokens: result.usage.promptTokens, outputTokens: result.usage.completionTokens, responseModel: result.model, finishReasons: [result.finishReason] });
      return result;
    });
  }

  /** Facts of the model a request goes to (loading it if needed): its window, and whether it takes chat messages. */
  protected async modelFacts(parameters: WorkflowParameters): Promise<{ contextLength: number | undefined; chat: boolean }> {
    const loaded = await this.modelManager.loadModel(this.modelFor(parameters));
    return { contextLength: loaded.info.contextLength, chat: loaded.info.chatTemplate !== false };
  }

  /**
   * Generates with a prompt that fits the model's window and leaves the answer its tokens: `build`
   * gets a character budget for the whole prompt and trims what matters least to meet it. The first
   * budget assumes INITIAL_CHARS_PER_TOKEN; when the engine reports more tokens than fit
   * (CONTEXT_LENGTH_EXCEEDED, or a prompt that squeezed the answer), the budget is recomputed from the
   * engine's own count and the request retried, at most 3 times. Models without a chat template
   * (base models) get the messages as one plain prompt (see plainPrompt).
   */
  protected async generateFitted<P extends BuiltPrompt>(parameters: WorkflowParameters, maxChars: number, build: (budget: number) => P): Promise<{ result: GenerationResult; prompt: P; budget: number }> {
    const { contextLength, chat } = await this.modelFacts(parameters);
    const request = this.baseRequest(parameters, contextLength);
    const answerTokens = request.maxTokens ?? 128;
    let charsPerToken = INITIAL_CHARS_PER_TOKEN;
    let budget = charBudget(contextLength, answerTokens, charsPerToken, maxChars);
    for (let attempt = 0; ; attempt += 1) {
      const prompt = build(budget);
      const chars = promptChars(prompt.messages);
      const recalibrate = (promptTokens: number | undefined): number => {
        // The engine's count gives the real ratio; aim 10% under, and always below the last budget.
        if (promptTokens === undefined || promptTokens <= 0 || chars === 0) return Math.floor(budget / 2);
        charsPerToken = chars / promptTokens;
        return Math.min(Math.floor(budget * 0.75), charBudget(contextLength, answerTokens, charsPerToken * 0.9, maxChars));
      };
      const inputs = chat ? { messages: prompt.messages } : { prompt: plainPrompt(prompt.messages) };
      try {
        const result = await this.generate({ ...request, ...inputs });
        const squeezed = contextLength !== undefined && result.usage.promptTokens > contextLength - answerTokens && result.finishReason === 'length';
        if (squeezed && attempt < 3 && budget > 0) {
          budget = recalibrate(result.usage.promptTokens);
          continue;
        }
        return { result, prompt, budget };
      } catch (error) {
        if (!MuaiError.hasCode(error, 'CONTEXT_LENGTH_EXCEEDED') || attempt >= 3 || budget <= 0) throw error;
        const reported = (error as MuaiError).details['promptTokens'];
        budget = recalibrate(typeof reported === 'number' ? reported : undefined);
      }
    }
  }
}
