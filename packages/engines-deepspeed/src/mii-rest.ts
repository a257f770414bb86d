import { InvalidRequestError, MuaiError, throwIfAborted } from '@muai/core';
import type { FinishReason, GenerationRequest, GenerationResult } from '@muai/core';
import { malformedResponseError } from '@muai/engines-http';
import type { HttpClient } from '@muai/engines-http';

/** One item of MII's REST answer (`mii.backend.Response.to_msg_dict()`). */
export interface MiiResponseItem {
  generated_text: string;
  prompt_length: number;
  generated_length: number;
  /** `stop`, `length` or `none` (mii.constants.GenerationFinishReason). */
  finish_reason: string;
}

/** Maps MII's finish reason; `none` (not finished) and unknown values are `error`, never a pretended `stop`. */
export function mapMiiFinishReason(reason: unknown): FinishReason {
  if (reason === 'stop') return 'stop';
  if (reason === 'length') return 'length';
  return 'error';
}

export interface MiiRestOptions {
  http: HttpClient;
  engine: string;
  deploymentName: string;
  /** max_new_tokens when a request has none; default not sent (MII's max_length applies). */
  defaultMaxTokens?: number;
  /** Temperature when a request has none; default 0 (greedy: do_sample=false). */
  defaultTemperature?: number;
}

/**
 * Client of DeepSpeed-MII's RESTful gateway (`mii.serve(..., enable_restful_api=True)`):
 * `POST /mii/<deployment_name>` with `{"prompts": [...], <GenerateParamsConfig fields>}`, answered
 * with one `{generated_text, prompt_length, generated_length, finish_reason}` per prompt. Older MII
 * versions answer with that list JSON-encoded a second time (a JSON string); both are accepted.
 */
export class MiiRestClient {
  private readonly options: MiiRestOptions;

  constructor(options: MiiRestOptions) {
    this.options = options;
  }

  get path(): string {
    return `/mii/${encodeURIComponent(this.options.deploymentName)}`;
  }

  /**
   * The generation kwargs for a request. Greedy (temperature 0) is `do_sample: false`. MII's
   * GenerateParamsConfig has no min_p, repetition_penalty, seed or stop_token_ids; those are not sent.
   */
  kwargs(request: GenerationRequest): Record<string, unknown> {
    if (request.messages !== undefined || request.prompt === undefined) {
      throw new InvalidRequestError(
        "DeepSpeed-MII's REST API takes plain prompts only. Send `prompt`, or use protocol 'openai' (MII's OpenAI-compatible server) for chat messages.",
      );
    }
    const body: Record<string, unknown> = {};
    const temperature = request.temperature ?? this.options.defaultTemperature ?? 0;
    if (temperature <= 0) body.do_sample = false;
    else {
      body.do_sample = true;
      body.temperature = temperature;
    }
    const maxTokens = request.maxTokens ?? this.options.defaultMaxTokens;
    if (maxTokens !== undefined) body.max_new_tokens = maxTokens;
    if (request.topP !== undefined) body.top_p = request.topP;
    if (request.topK !== undefined && request.topK > 0) body.top_k = request.topK;
    if (request.stop !== undefined && request.stop.length > 0) body.stop = [...request.stop];
    return body;
  }

  /** Sends prompts sharing `kwargs` in one call; items come back in prompt order. */
  async generateMany(prompts: readonly string[], kwargs: Record<string, unknown>, model: string, signal?: AbortSignal): Promise<GenerationResult[]> {
    throwIfAborted(signal);
    const started = performance.now();
    const { body, endpoint } = await this.options.http.json<unknown>({ path: this.path, body: { prompts: [...prompts], ...kwargs }, signal, model, ...(prompts[0] !== undefined ? { routingKey: prompts[0] } : {}) });
    const context = { engine: this.options.engine, endpoint, path: this.path };
    let items: unknown = body;
    if (typeof items === 'string') {
      try {
        items = JSON.parse(items);
      } catch (error) {
        throw malformedResponseError(context, 'the answer is a string that is not JSON', error);
      }
    }
    if (!Array.isArray(items) || items.length !== prompts.length) {
      throw malformedResponseError(context, `expected a list of ${prompts.length} result(s)`);
    }
    const totalMs = performance.now() - started;
    return items.map((raw) => {
      const item = raw as Partial<MiiResponseItem>;
      if (typeof item.generated_text !== 'string') throw malformedResponseError(context, 'an item has no generated_text');
      const promptTokens = Number(item.prompt_length ?? 0);
      const completionTokens = Number(item.generated_length ?? 0);
      return {
        text: item.generated_text,
        finishReason: mapMiiFinishReason(item.finish_reason),
        usage: { promptTokens, completionTokens, totalTokens: promptTokens + completionTokens },
        // The REST API is not streamed: time to first token is not observable, so it equals the total.
        timings: { ttftMs: totalMs, totalMs, tokensPerSecond: totalMs > 0 ? (completionTokens * 1000) / totalMs : 0 },
        engineUsed: this.options.engine,
        model,
      };
    });
  }

  async generate(request: GenerationRequest, model: string): Promise<GenerationResult> {
    const kwargs = this.kwargs(request);
    const [result] = await this.generateMany([request.prompt!], kwargs, model, request.signal);
    return result!;
  }

  /** Groups same-kwargs prompts into one call each; a rejected group is retried prompt by prompt. */
  async generateBatch(requests: readonly GenerationRequest[], model: (request: GenerationRequest) => string): Promise<Array<GenerationResult | Error>> {
    const results: Array<GenerationResult | Error | undefined> = new Array(requests.length);
    const groups = new Map<string, number[]>();
    const tasks: Array<Promise<void>> = [];
    const one = async (index: number) => {
      try {
        results[index] = await this.generate(requests[index]!, model(requests[index]!));
      } catch (error) {
        results[index] = error instanceof Error ? error : new Error(String(error));
      }
    };
    requests.forEach((request, index) => {
      try {
        if (request.signal !== undefined) throw new Error('own signal');
        const key = JSON.stringify([model(request), this.kwargs(request)]);
        groups.set(key, [...(groups.get(key) ?? []), index]);
      } catch {
        tasks.push(one(index));
      }
    });
    for (const indexes of groups.values()) {
      if (indexes.length === 1) {
        tasks.push(one(indexes[0]!));
        continue;
      }
      tasks.push(
        (async () => {
          const first = requests[indexes[0]!]!;
          try {
            const out = await this.generateMany(
              indexes.map((index) => requests[index]!.prompt!),
              this.kwargs(first),
              model(first),
            );
            indexes.forEach((index, position) => (results[index] = out[position]!));
          } catch (error) {
            if (MuaiError.hasCode(error, 'INVALID_REQUEST') || MuaiError.hasCode(error, 'CONTEXT_LENGTH_EXCEEDED')) {
              await Promise.all(indexes.map(one));
              return;
            }
            for (const index of indexes) results[index] = error instanceof Error ? error : new Error(String(error));
          }
        })(),
      );
    }
    await Promise.all(tasks);
    return results.map((result) => result ?? new MuaiError('INTERNAL', 'A batch item got no result.'));
  }
}
