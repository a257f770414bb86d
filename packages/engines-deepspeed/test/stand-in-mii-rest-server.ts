import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { standInGenerate } from '@muai/engines-http/testing';

/** GenerateParamsConfig fields MII accepts as generate kwargs (mii/config.py). Others fail like pydantic does. */
const GENERATE_KWARGS = new Set([
  'prompt_length', 'max_length', 'max_new_tokens', 'min_new_tokens', 'stream', 'ignore_eos', 'return_full_text',
  'do_sample', 'top_p', 'top_k', 'temperature', 'stop',
]);

export type MiiFault = 'none' | 'hang' | 'status-500' | 'malformed-json' | 'cut';

export interface StandInMiiRestServer {
  readonly url: string;
  readonly requests: Array<{ method: string; path: string; body: Record<string, unknown> | undefined }>;
  fault: MiiFault;
  close(): Promise<void>;
}

const FLASK_405 = '<!doctype html>\n<html lang=en>\n<title>405 Method Not Allowed</title>\n<h1>Method Not Allowed</h1>\n<p>The method is not allowed for the requested URL.</p>\n';
const FLASK_404 = '<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL was not found on the server.</p>\n';
const FLASK_500 = '<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was unable to complete your request.</p>\n';

/**
 * A stand-in for DeepSpeed-MII's RESTful gateway (mii/grpc_related/restful_gateway.py), not MII:
 * Flask-RESTful resource at `/mii/<deployment_name>` taking POST only (GET is 405), body
 * `{"prompts": [...], **generate_kwargs}` passed to `client.generate(**data)`, answered with a JSON
 * list of `{generated_text, prompt_length, generated_length, finish_reason}`. With `legacyStringBody`
 * it answers as older MII did: `json.dumps(list)` returned from the resource, so the list arrives
 * JSON-encoded twice. Errors are Flask's HTML pages.
 */
export async function startStandInMiiRestServer(options: { deploymentName?: string; legacyStringBody?: boolean } = {}): Promise<StandInMiiRestServer> {
  const path = `/mii/${options.deploymentName ?? 'deepspeed-mii'}`;
  const requests: StandInMiiRestServer['requests'] = [];
  const sockets = new Set<Socket>();
  const state = { fault: 'none' as MiiFault };
  const html = (response: ServerResponse, status: number, page: string) => {
    response.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
    response.end(page);
  };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, unknown> | undefined;
      try {
        body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
      } catch {
        body = undefined;
      }
      requests.push({ method: request.method ?? 'GET', path: request.url ?? '/', body });
      if (request.url !== path) return html(response, 404, FLASK_404);
      if (request.method !== 'POST') return html(response, 405, FLASK_405);
      if (state.fault === 'hang') return;
      if (state.fault === 'status-500') return html(response, 500, FLASK_500);
      const { prompts, ...kwargs } = body ?? {};
      const list = typeof prompts === 'string' ? [prompts] : prompts;
      if (!Array.isArray(list) || Object.keys(kwargs).some((key) => !GENERATE_KWARGS.has(key))) return html(response, 500, FLASK_500);
      const maxNew = typeof kwargs.max_new_tokens === 'number' ? kwargs.max_new_tokens : undefined;
      const stop = Array.isArray(kwargs.stop) ? (kwargs.stop as string[]) : typeof kwargs.stop === 'string' ? [kwargs.stop] : [];
      const results = (list as string[]).map((prompt) => {
        const out = standInGenerate(prompt, maxNew, stop);
        return { generated_text: out.text, prompt_length: out.promptTokens, generated_length: out.completionTokens, finish_reason: out.finishReason };
      });
      if (state.fault === 'malformed-json') {
        response.writeHead(200, { 'content-type': 'application/json' });
        return response.end('[{"generated_text": "half');
      }
      if (state.fault === 'cut') {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': 500 });
        response.write('[{"generated_text": "', () => request.socket.destroy());
        return;
      }
      const payload = options.legacyStringBody ? JSON.stringify(JSON.stringify(results)) : JSON.stringify(results);
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(`${payload}\n`);
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    get fault() {
      return state.fault;
    },
    set fault(value: MiiFault) {
      state.fault = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
