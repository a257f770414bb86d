import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { performance } from 'node:perf_hooks';
import { InvalidRequestError, RequestAbortedError } from '@muai/core';
import type { BenchPrompt } from './dataset.js';
import { BenchTargetInvalidError, BenchTargetUnreachableError } from './errors.js';
import type { BenchTarget, SendOutcome } from './target.js';

/** Options of an OpenAI-compatible HTTP target. */
export interface OpenAiTargetOptions {
  /** e.g. `http://127.0.0.1:8000` (a trailing `/v1` is accepted). */
  baseUrl: string;
  /** `/v1/completions` (default) or `/v1/chat/completions`. */
  endpoint?: '/v1/completions' | '/v1/chat/completions';
  /** Sent as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** The model id; default: the first id of GET /v1/models (vLLM's rule). */
  model?: string;
  /** Sent as `ignore_eos` (vLLM honours it; others ignore it). Default false. */
  ignoreEos?: boolean;
  /** Sampling temperature sent. Default 0. */
  temperature?: number;
  /** A request without a byte for this long fails. Default 300 000 ms. */
  requestTimeoutMs?: number;
  /** Preflight's whole budget. Default 30 000 ms. */
  preflightTimeoutMs?: number;
  /** Extra request body fields. */
  extraBody?: Record<string, unknown>;
}

const DONE = '[DONE]';
const CLOSED_EARLY = 'the connection closed before the stream ended';

/** Parsed facts of one SSE `data:` payload. */
interface EventFacts {
  text: string;
  promptTokens?: number;
  outputTokens?: number;
  error?: string;
}

function eventFacts(payload: string, chat: boolean): EventFacts {
  const event = JSON.parse(payload) as {
    choices?: Array<{ text?: string | null; delta?: { content?: string | null } | null }>;
    usage?: { prompt_tokens?: number; completion_tokens?: number } | null;
    error?: { message?: string } | string;
  };
  if (typeof event !== 'object' || event === null) throw new Error('an SSE event is not a JSON object');
  const facts: EventFacts = { text: '' };
  if (event.error !== undefined) {
    facts.error = typeof event.error === 'string' ? event.error : (event.error.message ?? JSON.stringify(event.error));
    return facts;
  }
  const choice = event.choices?.[0];
  if (choice) facts.text = (chat ? choice.delta?.content : choice.text) ?? '';
  else if (event.choices === undefined && event.usage == null) throw new Error(`an SSE event has neither "choices" nor "usage": ${payload.slice(0, 120)}`);
  if (event.usage) {
    if (typeof event.usage.prompt_tokens === 'number') facts.promptTokens = event.usage.prompt_tokens;
    if (typeof event.usage.completion_tokens === 'number') facts.outputTokens = event.usage.completion_tokens;
  }
  return facts;
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 160 ? `${flat.slice(0, 160)}…` : flat;
}

/**
 * An OpenAI-compatible streaming target on node:http with keep-alive sockets and a lean SSE reader
 * (split on blank lines, one JSON.parse per event): the client stays cheap so that results
 * measure the server. TTFT is the first chunk with text; each later chunk with text is one ITL.
 */
export class OpenAiTarget implements BenchTarget {
  readonly description: string;
  model: string;
  private readonly url: URL;
  private readonly chat: boolean;
  private readonly agent: HttpAgent;
  private readonly send_: typeof httpRequest;
  private readonly headers: Record<string, string>;
  private readonly options: OpenAiTargetOptions;

  constructor(options: OpenAiTargetOptions) {
    const endpoint = options.endpoint ?? '/v1/completions';
    if (endpoint !== '/v1/completions' && endpoint !== '/v1/chat/completions') {
      throw new InvalidRequestError(`--endpoint must be /v1/completions or /v1/chat/completions (got "${String(endpoint)}").`);
    }
    let base: URL;
    try {
      base = new URL(options.baseUrl);
    } catch (error) {
      throw new InvalidRequestError(`--base-url is not a URL (got "${options.baseUrl}").`, { cause: error });
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new InvalidRequestError(`--base-url must be http:// or https:// (got "${options.baseUrl}").`);
    const root = base.href.replace(/\/+$/, '').replace(/\/v1$/, '');
    this.url = new URL(root + endpoint);
    this.chat = endpoint === '/v1/chat/completions';
    this.options = options;
    this.model = options.model ?? '';
    this.description = this.url.href;
    const https = this.url.protocol === 'https:';
    // No socket limit: the load generator's own cap (--max-concurrency) is the only one.
    this.agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: Infinity }) : new HttpAgent({ keepAlive: true, maxSockets: Infinity });
    this.send_ = https ? httpsRequest : httpRequest;
    this.headers = { 'content-type': 'application/json', accept: 'text/event-stream' };
    if (options.apiKey) this.headers['authorization'] = `Bearer ${options.apiKey}`;
  }

  private body(prompt: BenchPrompt): string {
    const body: Record<string, unknown> = {
      model: this.model,
      max_tokens: prompt.maxTokens,
      temperature: this.options.temperature ?? 0,
      stream: true,
      stream_options: { include_usage: true },
      ...this.options.extraBody,
    };
    if (this.options.ignoreEos) body['ignore_eos'] = true;
    if (this.chat) body['messages'] = [{ role: 'user', content: prompt.prompt }];
    else body['prompt'] = prompt.prompt;
    return JSON.stringify(body);
  }

  /** GET /v1/models for the default model id; a failure here is reported by the preflight POST. */
  private async firstModel(signal: AbortSignal): Promise<string | undefined> {
    const url = new URL('/v1/models', this.url);
    const answer = await new Promise<{ status: number; text: string } | undefined>((resolve) => {
      const req = this.send_(url, { method: 'GET', agent: this.agent, headers: this.headers, signal }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', () => resolve(undefined));
      });
      req.on('error', () => resolve(undefined));
      req.end();
    });
    if (answer?.status !== 200) return undefined;
    try {
      const id = (JSON.parse(answer.text) as { data?: Array<{ id?: unknown }> }).data?.[0]?.id;
      return typeof id === 'string' ? id : undefined;
    } catch {
      return undefined;
    }
  }

  async preflight(signal?: AbortSignal): Promise<void> {
    const timeout = AbortSignal.timeout(this.options.preflightTimeoutMs ?? 30_000);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    if (this.model === '') this.model = (await this.firstModel(combined)) ?? 'default';
    const outcome = await this.exchange({ prompt: 'Hello', maxTokens: 2 }, combined, false, true);
    const where = this.url.href;
    if (outcome.status === 'ok') return;
    if (signal?.aborted) throw new RequestAbortedError({ cause: signal.reason });
    const budget = `within ${this.options.preflightTimeoutMs ?? 30_000} ms`;
    if (outcome.httpStatus === undefined) {
      throw new BenchTargetUnreachableError(where, timeout.aborted ? `no answer ${budget}` : (outcome.error ?? 'no answer'));
    }
    const reason = timeout.aborted ? `it answered HTTP ${outcome.httpStatus} but the stream did not end ${budget}` : (outcome.error ?? `HTTP ${outcome.httpStatus}`);
    throw new BenchTargetInvalidError(where, reason, { details: { status: outcome.httpStatus } });
  }

  send(prompt: BenchPrompt, signal: AbortSignal, keepText: boolean): Promise<SendOutcome> {
    return this.exchange(prompt, signal, keepText, false);
  }

  private exchange(prompt: BenchPrompt, signal: AbortSignal, keepText: boolean, strict: boolean): Promise<SendOutcome> {
    const chat = this.chat;
    const timeoutMs = this.options.requestTimeoutMs ?? 300_000;
    return new Promise<SendOutcome>((resolve) => {
      const chunkTimes: number[] = [];
      const outcome: SendOutcome = { status: 'ok', chunkTimes, endTime: 0 };
      let text = '';
      let settled = false;
      const finish = (status: SendOutcome['status'], error?: string): void => {
        if (settled) return;
        settled = true;
        outcome.endTime = performance.now();
        outcome.status = status;
        if (error !== undefined) outcome.error = error;
        if (keepText) outcome.text = text;
        signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const onAbort = (): void => {
        req.destroy();
        finish('cancelled', 'cancelled');
      };
      const payload = this.body(prompt);
      const req = this.send_(this.url, { method: 'POST', agent: this.agent, headers: { ...this.headers, 'content-length': String(Buffer.byteLength(payload)) } }, (res: IncomingMessage) => {
        outcome.httpStatus = res.statusCode ?? 0;
        const type = String(res.headers['content-type'] ?? '');
        res.setEncoding('utf8');
        if (outcome.httpStatus !== 200 || !type.includes('text/event-stream')) {
          let body = '';
          res.on('data', (chunk: string) => {
            if (body.length < 2000) body += chunk;
          });
          res.on('end', () => {
            const what = outcome.httpStatus === 200 ? `answered with content-type "${type}" instead of text/event-stream` : `HTTP ${outcome.httpStatus}`;
            finish('error', `${what}: ${snippet(body) || '(empty body)'}`);
          });
          res.on('error', (error) => finish('error', error.message));
          res.on('close', () => finish('error', `HTTP ${outcome.httpStatus}: ${CLOSED_EARLY}`));
          return;
        }
        let buffer = '';
        let sawDone = false;
        let sawEvent = false;
        res.on('data', (chunk: string) => {
          const now = performance.now();
          // SSE allows CRLF and CR line ends; most servers send LF only, so check before replacing.
          buffer += chunk.includes('\r') ? chunk.replace(/\r\n?/g, '\n') : chunk;
          let start = 0;
          for (;;) {
            const end = buffer.indexOf('\n\n', start);
            if (end < 0) break;
            const block = buffer.slice(start, end);
            start = end + 2;
            // An event may have several lines; only `data:` lines matter here.
            let lineStart = 0;
            while (lineStart < block.length) {
              let lineEnd = block.indexOf('\n', lineStart);
              if (lineEnd < 0) lineEnd = block.length;
              if (block.startsWith('data:', lineStart)) {
                const data = block.slice(lineStart + (block.charCodeAt(lineStart + 5) === 32 ? 6 : 5), lineEnd).trim();
                if (data === DONE) sawDone = true;
                else if (data !== '') {
                  let facts: EventFacts;
                  try {
                    facts = eventFacts(data, chat);
                  } catch (error) {
                    req.destroy();
                    finish('error', `not an OpenAI stream: ${(error as Error).message}`);
                    return;
                  }
                  sawEvent = true;
                  if (facts.error !== undefined) {
                    req.destroy();
                    finish('error', `error event: ${facts.error}`);
                    return;
                  }
                  if (facts.text !== '') {
                    chunkTimes.push(now);
                    if (keepText) text += facts.text;
                  }
                  if (facts.promptTokens !== undefined) outcome.promptTokens = facts.promptTokens;
                  if (facts.outputTokens !== undefined) outcome.outputTokens = facts.outputTokens;
                }
              }
              lineStart = lineEnd + 1;
            }
          }
          buffer = start === 0 ? buffer : buffer.slice(start);
        });
        res.on('end', () => {
          if (!sawEvent) finish('error', 'the stream ended without any data event');
          else if (strict && !sawDone) finish('error', 'the stream ended without "data: [DONE]"');
          else finish('ok');
        });
        // Node reports a connection that broke mid-response as an 'aborted' error, or only as 'close'
        // (which, after 'end', does nothing).
        res.on('error', (error) => finish('error', error.message === 'aborted' ? CLOSED_EARLY : error.message));
        res.on('close', () => finish('error', CLOSED_EARLY));
      });
      req.setTimeout(timeoutMs, () => {
        req.destroy();
        finish('error', `no data for ${timeoutMs} ms`);
      });
      req.on('error', (error: NodeJS.ErrnoException) => finish(signal.aborted ? 'cancelled' : 'error', error.code ?? error.message));
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      req.end(payload);
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}

/** An OpenAI-compatible streaming target (`muai serve`, vLLM, any compatible server). */
export function createOpenAiTarget(options: OpenAiTargetOptions): OpenAiTarget {
  return new OpenAiTarget(options);
}
