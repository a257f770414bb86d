import { performance } from 'node:perf_hooks';
import { MuaiError } from '@muai/core';
import type { Engine, GenerationRequest } from '@muai/core';
import type { BenchPrompt } from './dataset.js';
import type { BenchTarget, SendOutcome } from './target.js';

/** Options of an in-process engine target. */
export interface EngineTargetOptions {
  /** Any loaded @muai/core engine. */
  engine: Engine;
  /** Model name requests use. Default: the engine's first model. */
  model?: string;
  /** Send prompts as one user message (chat template applied). Default false. */
  chat?: boolean;
  /** Default 0. */
  temperature?: number;
}

/** Benchmarks an engine in process (no server, no HTTP): TTFT and ITL from `engine.stream()` chunks. */
export class EngineTarget implements BenchTarget {
  readonly description: string;
  readonly model: string;
  private readonly options: EngineTargetOptions;

  constructor(options: EngineTargetOptions) {
    this.options = options;
    const model = options.model ?? options.engine.models()[0];
    if (model === undefined) throw new MuaiError('MODEL_NOT_FOUND', `Engine "${options.engine.name}" has no loaded model. Load one before benchmarking it.`);
    this.model = model;
    this.description = `engine ${options.engine.name} (${model})`;
  }

  private request(prompt: BenchPrompt, signal: AbortSignal): GenerationRequest {
    const base: GenerationRequest = { model: this.model, maxTokens: prompt.maxTokens, temperature: this.options.temperature ?? 0, signal };
    if (this.options.chat) base.messages = [{ role: 'user', content: prompt.prompt }];
    else base.prompt = prompt.prompt;
    return base;
  }

  async preflight(signal?: AbortSignal): Promise<void> {
    const outcome = await this.send({ prompt: 'Hello', maxTokens: 1 }, signal ?? new AbortController().signal, false);
    if (outcome.status !== 'ok') throw new MuaiError('ENGINE_ERROR', `The engine failed its preflight request: ${outcome.error ?? outcome.status}. No load was sent.`);
  }

  async send(prompt: BenchPrompt, signal: AbortSignal, keepText: boolean): Promise<SendOutcome> {
    const chunkTimes: number[] = [];
    const outcome: SendOutcome = { status: 'ok', chunkTimes, endTime: 0 };
    let text = '';
    try {
      for await (const chunk of this.options.engine.stream(this.request(prompt, signal))) {
        if (chunk.text !== '') {
          chunkTimes.push(performance.now());
          if (keepText) text += chunk.text;
        }
        if (chunk.usage) {
          outcome.promptTokens = chunk.usage.promptTokens;
          outcome.outputTokens = chunk.usage.completionTokens;
        }
        if (chunk.finishReason === 'error') outcome.status = 'error';
      }
    } catch (error) {
      outcome.status = signal.aborted || MuaiError.hasCode(error, 'REQUEST_ABORTED') ? 'cancelled' : 'error';
      outcome.error = MuaiError.isInstance(error) ? `${error.code}: ${error.message}` : (error as Error).message;
    }
    outcome.endTime = performance.now();
    if (keepText) outcome.text = text;
    return outcome;
  }

  async close(): Promise<void> {
    // The engine belongs to the caller, who closes it.
  }
}

export function createEngineTarget(options: EngineTargetOptions): EngineTarget {
  return new EngineTarget(options);
}
