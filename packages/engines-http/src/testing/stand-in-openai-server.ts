import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { standInGenerate, standInTokenId, standInTokens } from './stand-in-model.js';

/**
 * Faults a stand-in server can inject into generation requests:
 * `hang` never answers; `status-500`/`status-503` answer with that status and an error body;
 * `cut-stream` sends part of the answer then drops the connection; `malformed-json` answers 200
 * with a body that is not JSON; `error-event` sends vLLM's mid-stream `data: {"error": ...}` event.
 */
export type StandInFault = 'none' | 'hang' | 'status-500' | 'status-503' | 'cut-stream' | 'malformed-json' | 'error-event';

export interface StandInOpenAiServerOptions {
  /** Served model ids. Default `['stand-in-model']`. */
  models?: string[];
  /** `vllm` (default): vLLM's error bodies, empty /health, /tokenize, /metrics. `mii`: DeepSpeed-MII's OpenAI server. */
  flavor?: 'vllm' | 'mii';
  /** vLLM error body: `nested` `{"error": {...}}` (v0.10+, default) or `flat` `{"object": "error", ...}` (older). */
  errorShape?: 'nested' | 'flat';
  /** Context window in tokens (words). Default 64. */
  maxModelLen?: number;
  /** When set, `/v1` paths need `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Delay between streamed tokens, in ms. Default 0. */
  tokenDelayMs?: number;
}

export interface RecordedRequest {
  method: string;
  path: string;
  body: Record<string, unknown> | undefined;
  headers: IncomingMessage['headers'];
}

/** A stand-in for vLLM's (or MII's) OpenAI-compatible server on 127.0.0.1. Not the real server. */
export interface StandInOpenAiServer {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Fault for the next generation requests; change it at any time. */
  fault: StandInFault;
  /** When false, `/health` answers 503 (vLLM's answer when its engine is dead). */
  healthy: boolean;
  /** Generation requests in flight. */
  readonly running: number;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts a stand-in OpenAI-protocol server speaking vLLM's documented wire format. */
export async function startStandInOpenAiServer(options: StandInOpenAiServerOptions = {}): Promise<StandInOpenAiServer> {
  const models = options.models ?? ['stand-in-model'];
  const flavor = options.flavor ?? 'vllm';
  const maxModelLen = options.maxModelLen ?? 64;
  const sockets = new Set<Socket>();
  const requests: RecordedRequest[] = [];
  const counters = { running: 0, promptTokens: 0, generationTokens: 0, success: { stop: 0, length: 0, abort: 0 } };
  const state = { fault: 'none' as StandInFault, healthy: true };

  const sendJson = (response: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    response.end(text);
  };
  const errorBody = (status: number, message: string, type: string) => {
    if (flavor === 'mii') return { object: 'error', message, code: status === 404 ? 40301 : 40001 };
    if (options.errorShape === 'flat') return { object: 'error', message, type, param: null, code: status };
    return { error: { message, type, param: null, code: status } };
  };
  const sendError = (response: ServerResponse, status: number, message: string, type: string) => {
    // DeepSpeed-MII's OpenAI server answers every error with 400.
    sendJson(response, flavor === 'mii' ? 400 : status, errorBody(status, message, type));
  };

  const generation = async (path: string, body: Record<string, unknown>, request: IncomingMessage, response: ServerResponse) => {
    const chat = path === '/v1/chat/completions';
    const model = body.model;
    if (typeof model !== 'string' || !models.includes(model)) {
      const message = flavor === 'mii' ? `Model ${String(model)} not found.` : `The model \`${String(model)}\` does not exist.`;
      sendError(response, 404, message, 'NotFoundError');
      return;
    }
    let prompts: string[];
    if (chat) {
      const messages = body.messages;
      if (!Array.isArray(messages) || messages.length === 0) {
        sendError(response, 400, 'messages: Field required', 'BadRequestError');
        return;
      }
      const users = messages.filter((m: { role?: string }) => m.role === 'user') as Array<{ content?: string }>;
      prompts = [String(users.at(-1)?.content ?? '')];
    } else if (typeof body.prompt === 'string') prompts = [body.prompt];
    else if (Array.isArray(body.prompt) && body.prompt.every((p) => typeof p === 'string')) prompts = body.prompt as string[];
    else {
      sendError(response, 400, 'prompt: Field required', 'BadRequestError');
      return;
    }
    const maxTokens = typeof body.max_tokens === 'number' ? body.max_tokens : undefined;
    let stop = Array.isArray(body.stop) ? (body.stop as string[]) : typeof body.stop === 'string' ? [body.stop] : [];
    if (flavor === 'mii') stop = stop.slice(0, 1);
    for (const prompt of prompts) {
      const requested = standInTokens(prompt).length + (maxTokens ?? 0);
      if (requested > maxModelLen) {
        sendError(
          response,
          400,
          `This model's maximum context length is ${maxModelLen} tokens. However, you requested ${requested} tokens (${standInTokens(prompt).length} in the messages, ${maxTokens ?? 0} in the completion). Please reduce the length of the messages or completion.`,
          'BadRequestError',
        );
        return;
      }
    }
    const fault = state.fault;
    if (fault === 'hang') return; // never answers
    if (fault === 'status-500') {
      sendError(response, 500, 'EngineCore encountered an issue. See stack trace (above) for the root cause.', 'InternalServerError');
      return;
    }
    if (fault === 'status-503') {
      sendError(response, 503, 'The server is not ready.', 'ServiceUnavailableError');
      return;
    }
    const outputs = prompts.map((prompt) => standInGenerate(prompt, maxTokens, stop));
    const id = chat ? 'chatcmpl-standin' : 'cmpl-standin';
    const created = Math.floor(Date.now() / 1000);
    const usage = {
      prompt_tokens: outputs.reduce((sum, o) => sum + o.promptTokens, 0),
      completion_tokens: outputs.reduce((sum, o) => sum + o.completionTokens, 0),
      total_tokens: outputs.reduce((sum, o) => sum + o.promptTokens + o.completionTokens, 0),
    };
    counters.running += 1;
    try {
      if (body.stream === true) {
        response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
        // Resolves once the event has been handed to the socket, so a later cut happens after it was sent.
        const send = (data: unknown) =>
          new Promise<void>((resolve) => response.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`, () => resolve()));
        const object = chat ? 'chat.completion.chunk' : 'text_completion';
        if (chat) await send({ id, object, created, model, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
        for (const [index, output] of outputs.entries()) {
          for (const [position, piece] of output.pieces.entries()) {
            if (fault === 'cut-stream' && position === 2) {
              request.socket.destroy();
              return;
            }
            if (fault === 'malformed-json' && position === 1) {
              await new Promise<void>((resolve) => response.write('data: {"id": "cmpl-standin", "choices": [{"text": \n\n', () => resolve()));
              response.end();
              return;
            }
            if (fault === 'error-event' && position === 1) {
              await send({ error: { message: 'EngineCore encountered an issue.', type: 'InternalServerError', param: null, code: 500 } });
              await send('[DONE]');
              response.end();
              return;
            }
            if (options.tokenDelayMs) await sleep(options.tokenDelayMs);
            if (request.socket.destroyed) return;
            const choice = chat ? { index, delta: { content: piece }, finish_reason: null } : { index, text: piece, finish_reason: null };
            await send({ id, object, created, model, choices: [choice] });
          }
          const last = chat
            ? { index, delta: {}, finish_reason: output.finishReason, stop_reason: null }
            : { index, text: '', finish_reason: output.finishReason, stop_reason: null };
          await send({ id, object, created, model, choices: [last] });
        }
        const streamOptions = body.stream_options as { include_usage?: boolean } | undefined;
        // vLLM: include_usage defaults to true once stream_options is present.
        if (flavor === 'vllm' && streamOptions && streamOptions.include_usage !== false) await send({ id, object, created, model, choices: [], usage });
        await send('[DONE]');
        response.end();
      } else {
        if (fault === 'cut-stream') {
          response.writeHead(200, { 'content-type': 'application/json', 'content-length': 400 });
          await new Promise<void>((resolve) =>
            response.write('{"id": "cmpl-standin", "object": "text_completion", "choices": [{"index": 0, "text": "', () => resolve()),
          );
          request.socket.destroy();
          return;
        }
        if (fault === 'malformed-json') {
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end('{"id": "cmpl-standin", "choices": [{"text": <html>upstream error</html>');
          return;
        }
        const choices = outputs.map((output, index) => {
          const base = chat
            ? { index, message: { role: 'assistant', content: output.text }, finish_reason: output.finishReason }
            : { index, text: output.text, finish_reason: output.finishReason, logprobs: null };
          if (flavor === 'vllm' && body.return_token_ids === true) {
            return {
              ...base,
              stop_reason: null,
              token_ids: output.pieces.map(standInTokenId),
              prompt_token_ids: standInTokens(prompts[index]!).map(standInTokenId),
            };
          }
          return flavor === 'vllm' ? { ...base, stop_reason: null } : base;
        });
        sendJson(response, 200, { id, object: chat ? 'chat.completion' : 'text_completion', created, model, choices, usage });
      }
      for (const output of outputs) {
        counters.promptTokens += output.promptTokens;
        counters.generationTokens += output.completionTokens;
        counters.success[output.finishReason] += 1;
      }
    } finally {
      counters.running -= 1;
    }
  };

  const metricsText = () => {
    const lines: string[] = [];
    for (const model of models) {
      const labels = `engine="0",model_name="${model}"`;
      lines.push(
        '# HELP vllm:num_requests_running Number of requests in model execution batches.',
        '# TYPE vllm:num_requests_running gauge',
        `vllm:num_requests_running{${labels}} ${counters.running}`,
        '# HELP vllm:num_requests_waiting Number of requests waiting to be processed.',
        '# TYPE vllm:num_requests_waiting gauge',
        `vllm:num_requests_waiting{${labels}} 0.0`,
        '# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.',
        '# TYPE vllm:kv_cache_usage_perc gauge',
        `vllm:kv_cache_usage_perc{${labels}} 0.25`,
        '# TYPE vllm:prompt_tokens_total counter',
        `vllm:prompt_tokens_total{${labels}} ${counters.promptTokens}.0`,
        '# TYPE vllm:generation_tokens_total counter',
        `vllm:generation_tokens_total{${labels}} ${counters.generationTokens}.0`,
        '# TYPE vllm:num_preemptions_total counter',
        `vllm:num_preemptions_total{${labels}} 0.0`,
        '# TYPE vllm:prefix_cache_queries_total counter',
        `vllm:prefix_cache_queries_total{${labels}} 100.0`,
        '# TYPE vllm:prefix_cache_hits_total counter',
        `vllm:prefix_cache_hits_total{${labels}} 40.0`,
        '# TYPE vllm:request_success_total counter',
        ...(['stop', 'length', 'abort'] as const).map(
          (reason) => `vllm:request_success_total{${labels},finished_reason="${reason}"} ${counters.success[reason]}.0`,
        ),
        '# TYPE vllm:time_to_first_token_seconds histogram',
        `vllm:time_to_first_token_seconds_bucket{${labels},le="0.001"} 0.0`,
        `vllm:time_to_first_token_seconds_bucket{${labels},le="+Inf"} 4.0`,
        `vllm:time_to_first_token_seconds_count{${labels}} 4.0`,
        `vllm:time_to_first_token_seconds_sum{${labels}} 0.2`,
        '# TYPE vllm:e2e_request_latency_seconds histogram',
        `vllm:e2e_request_latency_seconds_bucket{${labels},le="+Inf"} 4.0`,
        `vllm:e2e_request_latency_seconds_count{${labels}} 4.0`,
        `vllm:e2e_request_latency_seconds_sum{${labels}} 1.0`,
        '# TYPE vllm:inter_token_latency_seconds histogram',
        `vllm:inter_token_latency_seconds_count{${labels}} 10.0`,
        `vllm:inter_token_latency_seconds_sum{${labels}} 0.5`,
        '# TYPE vllm:request_queue_time_seconds histogram',
        `vllm:request_queue_time_seconds_count{${labels}} 4.0`,
        `vllm:request_queue_time_seconds_sum{${labels}} 0.04`,
        `vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",gpu_memory_utilization="0.9",num_gpu_blocks="2048"} 1.0`,
      );
    }
    lines.push('# TYPE http_requests_total counter', 'http_requests_total{handler="/v1/completions",method="POST",status="2xx"} 3.0');
    return `${lines.join('\n')}\n`;
  };

  const server: Server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://stand-in');
      const text = await readBody(request);
      let body: Record<string, unknown> | undefined;
      if (text) {
        try {
          body = JSON.parse(text) as Record<string, unknown>;
        } catch {
          sendError(response, 400, 'JSON decode error', 'BadRequestError');
          return;
        }
      }
      requests.push({ method: request.method ?? 'GET', path: url.pathname, body, headers: request.headers });
      if (options.apiKey && url.pathname.startsWith('/v1') && request.headers.authorization !== `Bearer ${options.apiKey}`) {
        sendJson(response, 401, { error: 'Unauthorized' });
        return;
      }
      const route = `${request.method} ${url.pathname}`;
      if (route === 'GET /health') {
        if (!state.healthy) {
          response.writeHead(503).end();
          return;
        }
        if (flavor === 'mii') sendJson(response, 200, { status: 'ok' });
        else response.writeHead(200, { 'content-length': 0 }).end();
        return;
      }
      if (route === 'GET /v1/models') {
        const data = models.map((id) =>
          flavor === 'mii'
            ? { id, object: 'model', created: 0, owned_by: 'fastchat', root: id, parent: null, permission: [] }
            : { id, object: 'model', created: 0, owned_by: 'vllm', root: id, parent: null, max_model_len: maxModelLen, permission: [] },
        );
        sendJson(response, 200, { object: 'list', data });
        return;
      }
      if (route === 'POST /v1/completions' || route === 'POST /v1/chat/completions') {
        await generation(url.pathname, body ?? {}, request, response);
        return;
      }
      if (flavor === 'vllm' && route === 'POST /tokenize') {
        if (typeof body?.prompt !== 'string') {
          sendError(response, 400, 'prompt: Field required', 'BadRequestError');
          return;
        }
        const tokens = standInTokens(body.prompt).map(standInTokenId);
        sendJson(response, 200, { count: tokens.length, max_model_len: maxModelLen, tokens, token_strs: null });
        return;
      }
      if (flavor === 'vllm' && route === 'GET /metrics') {
        response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        response.end(metricsText());
        return;
      }
      sendJson(response, 404, { detail: 'Not Found' });
    })().catch(() => {
      if (!response.headersSent) response.writeHead(500).end();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get fault() {
      return state.fault;
    },
    set fault(value: StandInFault) {
      state.fault = value;
    },
    get healthy() {
      return state.healthy;
    },
    set healthy(value: boolean) {
      state.healthy = value;
    },
    get running() {
      return counters.running;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A loopback URL on which nothing listens: connections are refused. */
export async function refusedEndpoint(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
