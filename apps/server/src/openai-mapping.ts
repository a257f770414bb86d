// The OpenAI wire format on one side, @muai/core's GenerationRequest/Result on the other: request
// fields to generation options, results to response bodies and SSE frames. Pure functions.
import type { ChatMessage, FinishReason, GenerationRequest, Usage } from '@muai/core';
import type { ChatBody, CompletionBody } from './schemas.js';

/** `completion` (`/v1/completions`) or `chat` (`/v1/chat/completions`). */
export type CompletionKind = 'completion' | 'chat';

export function toUsage(usage: Usage) {
  return { prompt_tokens: usage.promptTokens, completion_tokens: usage.completionTokens, total_tokens: usage.totalTokens };
}

/** OpenAI's finish_reason: `stop`, `length`, or null (still running, or an abort/error). */
export function openAIFinish(reason: FinishReason | undefined): 'stop' | 'length' | null {
  if (reason === 'length') return 'length';
  if (reason === 'stop') return 'stop';
  return null;
}

function contentText(content: ChatBody['messages'][number]['content']): string {
  return typeof content === 'string' ? content : content.map((part) => part.text).join('');
}

/** The sampling and stopping options both routes share (OpenAI names to GenerationRequest). */
export function generationOptions(body: CompletionBody | ChatBody): Omit<GenerationRequest, 'prompt' | 'messages'> {
  const stop = body.stop === undefined || body.stop === null ? undefined : typeof body.stop === 'string' ? [body.stop] : body.stop;
  const maxTokens = body.max_completion_tokens ?? body.max_tokens ?? undefined;
  const request: GenerationRequest = {};
  if (maxTokens !== undefined) request.maxTokens = maxTokens;
  if (body.temperature !== undefined && body.temperature !== null) request.temperature = body.temperature;
  if (body.top_p !== undefined && body.top_p !== null) request.topP = body.top_p;
  if (body.top_k !== undefined && body.top_k !== null && body.top_k > 0) request.topK = body.top_k;
  if (body.min_p !== undefined && body.min_p !== null) request.minP = body.min_p;
  if (body.repetition_penalty !== undefined && body.repetition_penalty !== null) request.repetitionPenalty = body.repetition_penalty;
  if (body.seed !== undefined && body.seed !== null) request.seed = body.seed;
  if (stop) request.stop = stop;
  if (body.stop_token_ids) request.stopTokenIds = body.stop_token_ids;
  if (body.ignore_eos === true) request.ignoreEos = true;
  return request;
}

/** Chat messages as the engine takes them (`developer` is OpenAI's newer name for `system`). */
export function chatMessages(body: ChatBody): ChatMessage[] {
  return body.messages.map((message) => ({ role: message.role === 'developer' ? 'system' : message.role, content: contentText(message.content) }));
}

/** The non-streaming response body. */
export function completionResponse(kind: CompletionKind, meta: { id: string; created: number; model: string }, text: string, finish: FinishReason, usage: Usage) {
  const finishReason = openAIFinish(finish) ?? 'stop';
  const choice =
    kind === 'chat'
      ? { index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: finishReason }
      : { index: 0, text, logprobs: null, finish_reason: finishReason };
  return { id: meta.id, object: kind === 'chat' ? 'chat.completion' : 'text_completion', created: meta.created, model: meta.model, choices: [choice], usage: toUsage(usage) };
}
