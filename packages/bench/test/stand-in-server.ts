/**
 * A loopback OpenAI-compatible stand-in whose token timing is known: the first chunk `ttftMs`
 * after the request body arrived, then one chunk every `itlMs` (scheduled on absolute times so
 * timer delays do not add up), and right after the last one a usage chunk and `[DONE]`. Every `errorEvery`-th request answers
 * HTTP 500. It records when it really wrote each chunk and how many requests were in flight.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export interface StandInOptions {
  ttftMs: number;
  itlMs: number;
  /** Chunks per answer; default: the request's max_tokens. */
  tokens?: number;
  /** Every n-th request (1-based) answers 500. */
  errorEvery?: number;
  /** Send no usage chunk (prompt tokens in usage are the prompt's words otherwise). */
  noUsage?: boolean;
}

export interface ServedRequest {
  arrived: number;
  writes: number[];
  status: number;
  promptTokens: number;
  outputTokens: number;
}

export interface StandIn {
  url: string;
  requests: ServedRequest[];
  maxInFlight: () => number;
  close: () => Promise<void>;
}

export async function startStandIn(options: StandInOptions): Promise<StandIn> {
  const requests: ServedRequest[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let count = 0;
  const handle = (req: IncomingMessage, res: ServerResponse, body: string): void => {
    const arrived = performance.now();
    const chat = req.url === '/v1/chat/completions';
    if (req.method === 'GET' && req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [{ id: 'stand-in', object: 'model' }] }));
      return;
    }
    if (req.method !== 'POST' || (req.url !== '/v1/completions' && req.url !== '/v1/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no route ${req.url}`, type: 'not_found' } }));
      return;
    }
    count++;
    const parsed = JSON.parse(body) as { prompt?: string; messages?: Array<{ content: string }>; max_tokens?: number };
    const prompt = parsed.prompt ?? parsed.messages?.[0]?.content ?? '';
    const served: ServedRequest = { arrived, writes: [], status: 200, promptTokens: prompt.split(' ').length, outputTokens: 0 };
    requests.push(served);
    if (options.errorEvery && count % options.errorEvery === 0) {
      served.status = 500;
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'stand-in failure', type: 'server_error' } }));
      return;
    }
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const tokens = options.tokens ?? parsed.max_tokens ?? 16;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let k = 0;
    let closed = false;
    res.on('close', () => {
      if (!closed) {
        closed = true;
        inFlight--;
      }
    });
    const next = (): void => {
      if (closed) return;
      if (k < tokens) {
        const choice = chat ? { index: 0, delta: { content: `t${k} ` } } : { index: 0, text: `t${k} ` };
        res.write(`data: ${JSON.stringify({ id: 'x', choices: [choice] })}\n\n`);
        served.writes.push(performance.now());
        served.outputTokens++;
        k++;
        if (k < tokens) {
          const due = arrived + options.ttftMs + k * options.itlMs;
          setTimeout(next, Math.max(0, due - performance.now()));
          return;
        }
      }
      if (!options.noUsage) res.write(`data: ${JSON.stringify({ id: 'x', choices: [], usage: { prompt_tokens: served.promptTokens, completion_tokens: tokens, total_tokens: served.promptTokens + tokens } })}\n\n`);
      closed = true;
      inFlight--;
      res.end('data: [DONE]\n\n');
    };
    setTimeout(next, options.ttftMs);
  };
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => handle(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    maxInFlight: () => maxInFlight,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
