// Writes one streamed completion as OpenAI's server-sent events: `data: {chunk}` frames, a final
// frame with finish_reason, an optional usage frame, `data: [DONE]`; an error mid-stream becomes an
// error event before [DONE].
import type { ServerResponse } from 'node:http';
import type { FinishReason, Usage } from '@muai/core';
import { openAIFinish, toUsage, type CompletionKind } from './openai-mapping.js';

export class SseWriter {
  private readonly object: string;

  constructor(
    private readonly raw: ServerResponse,
    private readonly kind: CompletionKind,
    private readonly meta: { id: string; created: number; model: string },
  ) {
    this.object = kind === 'chat' ? 'chat.completion.chunk' : 'text_completion';
  }

  /** The 200 head (no buffering by proxies); chat streams start with the assistant role. */
  open(): void {
    this.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    if (this.kind === 'chat') this.send(this.frame([this.delta('', null, true)]));
  }

  /** True once the client went away: nothing more can be written. */
  get closed(): boolean {
    return this.raw.destroyed;
  }

  text(text: string): void {
    this.send(this.frame([this.delta(text, null)]));
  }

  /** The final frame with its finish reason, the usage frame when asked for, then [DONE]. */
  finish(reason: FinishReason | undefined, usage: Usage | undefined, includeUsage: boolean): void {
    if (this.closed) return;
    this.send(this.frame([this.delta('', openAIFinish(reason) ?? 'stop')]));
    if (includeUsage && usage) this.send(this.frame([], { usage: toUsage(usage) }));
    this.raw.end('data: [DONE]\n\n');
  }

  /** An OpenAI error body as the stream's last event, then [DONE]. */
  error(body: unknown): void {
    if (this.closed) return;
    this.send(body);
    this.raw.end('data: [DONE]\n\n');
  }

  private send(data: unknown): void {
    this.raw.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  private frame(choices: unknown[], extra: Record<string, unknown> = {}) {
    return { id: this.meta.id, object: this.object, created: this.meta.created, model: this.meta.model, choices, ...extra };
  }

  private delta(text: string, finish: string | null, role = false) {
    return this.kind === 'chat'
      ? { index: 0, delta: finish !== null && text === '' ? {} : { ...(role ? { role: 'assistant' } : {}), content: text }, logprobs: null, finish_reason: finish }
      : { index: 0, text, logprobs: null, finish_reason: finish };
  }
}
