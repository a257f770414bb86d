import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { MuaiError, type GenerationRequest, type StreamChunk } from '@muai/core';
import { FakeEngine, InMemoryMetricsSink } from '@muai/core/testing';
import { createServer, startServer, type RunningServer } from '../src/index.js';

// Issue 19: admission (429 + Retry-After), draining on shutdown, several API keys never logged,
// slow clients, CORS off, engine failures mid-stream. In process (FakeEngine) and over real sockets.

const words = Array.from({ length: 20 }, (_, index) => `w${index}`).join(' ');

async function fakeEngine(options: ConstructorParameters<typeof FakeEngine>[0] = {}) {
  const engine = new FakeEngine({ name: 'fake', respond: () => words, ...options });
  await engine.load({ name: 'tiny', path: '/nowhere' });
  return engine;
}

/** Reads an SSE response to its end: the data frames, and whether it ended with [DONE]. */
async function readStream(response: Response): Promise<{ frames: Array<Record<string, unknown>>; done: boolean }> {
  const text = await response.text();
  const frames: Array<Record<string, unknown>> = [];
  let done = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: ')) continue;
    if (line === 'data: [DONE]') done = true;
    else frames.push(JSON.parse(line.slice(6)) as Record<string, unknown>);
  }
  return { frames, done };
}

const streamBody = (maxTokens: number) => JSON.stringify({ model: 'tiny', prompt: 'go', max_tokens: maxTokens, stream: true });
const post = (url: string, body: string, headers: Record<string, string> = {}) => fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

let running: RunningServer | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

describe('admission', () => {
  it('answers beyond maxConcurrentRequests at once with 429 QUEUE_FULL and Retry-After; every request ends in a response', async () => {
    running = await startServer({ engine: await fakeEngine({ delayMs: 5 }), port: 0, maxConcurrentRequests: 8 });
    const url = running.url;
    const results = await Promise.all(Array.from({ length: 60 }, async () => {
      const response = await post(url, JSON.stringify({ model: 'tiny', prompt: 'go', max_tokens: 10 }));
      return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as { choices?: Array<{ text: string }>; error?: { code: string } } };
    }));
    const ok = results.filter((result) => result.status === 200);
    const refused = results.filter((result) => result.status === 429);
    expect(ok.length + refused.length).toBe(60);
    expect(ok.length).toBeGreaterThanOrEqual(8);
    expect(refused.length).toBeGreaterThan(0);
    for (const result of ok) expect(result.body.choices![0]!.text.trim().split(' ')).toHaveLength(10);
    for (const result of refused) {
      expect(result.body.error!.code).toBe('QUEUE_FULL');
      expect(Number(result.retryAfter)).toBeGreaterThan(0);
    }
    // The slots are given back: after the burst every request is admitted again.
    expect((await post(url, JSON.stringify({ model: 'tiny', prompt: 'go', max_tokens: 2 }))).status).toBe(200);
  });
});

describe('shutdown', () => {
  it('lets every stream in flight finish, answers new requests 503 SHUTTING_DOWN, and reports drained', async () => {
    running = await startServer({ engine: await fakeEngine({ delayMs: 20 }), port: 0, drainTimeoutMs: 10_000 });
    const url = running.url;
    const streams = Array.from({ length: 20 }, () => post(url, streamBody(15)));
    const responses = await Promise.all(streams);
    const bodies = responses.map(readStream);
    const closed = running.close();
    const refused = await post(url, streamBody(2));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('SHUTTING_DOWN');
    for (const { frames, done } of await Promise.all(bodies)) {
      expect(done).toBe(true);
      expect(frames.some((frame) => 'error' in frame)).toBe(false);
      expect(frames.map((frame) => (frame['choices'] as Array<{ text: string }>)[0]?.text ?? '').join('').trim().split(' ')).toHaveLength(15);
    }
    expect(await closed).toBe(true);
    running = undefined;
  });

  it('at the grace period’s end ends each unfinished stream with a SHUTTING_DOWN error event and logs why', async () => {
    const lines: string[] = [];
    const logStream = new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done(); } });
    running = await startServer({ engine: await fakeEngine({ delayMs: 100 }), port: 0, drainTimeoutMs: 300, logger: { level: 'info', stream: logStream } });
    const url = running.url;
    const responses = await Promise.all(Array.from({ length: 5 }, () => post(url, streamBody(20))));
    const started = performance.now();
    const drained = await running.close();
    running = undefined;
    expect(drained).toBe(false);
    expect(performance.now() - started).toBeLessThan(2_500);
    for (const response of responses) {
      const { frames, done } = await readStream(response);
      expect(done).toBe(true);
      const error = frames.find((frame) => 'error' in frame) as { error: { code: string } } | undefined;
      expect(error?.error.code).toBe('SHUTTING_DOWN');
    }
    expect(lines.join('')).toMatch(/stopping with 5 request\(s\) in flight \(grace period of 300 ms over\)/);
  });

  it('stopNow (a second SIGTERM) ends the grace period at once', async () => {
    running = await startServer({ engine: await fakeEngine({ delayMs: 100 }), port: 0, drainTimeoutMs: 60_000 });
    const response = await post(running.url, streamBody(20));
    const closed = running.close();
    running.stopNow();
    expect(await closed).toBe(false);
    running = undefined;
    const { frames } = await readStream(response);
    expect((frames.find((frame) => 'error' in frame) as { error: { code: string } }).error.code).toBe('SHUTTING_DOWN');
  });
});

describe('security', () => {
  it('accepts any of several API keys, refuses others with UNAUTHORIZED, and never logs a key', async () => {
    const lines: string[] = [];
    const logStream = new Writable({ write(chunk, _encoding, done) { lines.push(String(chunk)); done(); } });
    const app = createServer({ engine: await fakeEngine(), apiKey: ['key-one-secret', 'key-two-secret'], logger: { level: 'trace', stream: logStream } });
    for (const key of ['key-one-secret', 'key-two-secret']) {
      const response = await app.inject({ method: 'POST', url: '/v1/completions', headers: { authorization: `Bearer ${key}` }, payload: { model: 'tiny', prompt: 'x', max_tokens: 1 } });
      expect(response.statusCode).toBe(200);
    }
    for (const header of ['Bearer key-one', 'Bearer key-one-secretX', 'key-one-secret', 'Bearer ', 'Basic a2V5LW9uZS1zZWNyZXQ=']) {
      const response = await app.inject({ method: 'POST', url: '/v1/completions', headers: { authorization: header }, payload: { model: 'tiny', prompt: 'x' } });
      expect(response.statusCode).toBe(401);
      expect(response.json().error.code).toBe('UNAUTHORIZED');
    }
    await app.close();
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('')).not.toContain('secret');
    expect(lines.join('')).not.toContain('a2V5LW9uZS1zZWNyZXQ');
  });

  it('sends no CORS headers (CORS is off: a browser on another origin cannot read answers)', async () => {
    const app = createServer({ engine: await fakeEngine() });
    const preflight = await app.inject({ method: 'OPTIONS', url: '/v1/completions', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(preflight.statusCode).toBe(404);
    expect(preflight.json().error.code).toBe('NOT_FOUND');
    const post = await app.inject({ method: 'POST', url: '/v1/completions', headers: { origin: 'https://evil.example' }, payload: { model: 'tiny', prompt: 'x', max_tokens: 1 } });
    for (const response of [preflight, post]) expect(Object.keys(response.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
    await app.close();
  });

  it('never puts request text in a response header (model names with CR/LF, header-like parameters)', async () => {
    const app = createServer({ engine: await fakeEngine() });
    for (const model of ['tiny\r\nx-injected: 1', 'tiny\nset-cookie: a=b', 'tiny%0d%0ax-injected:%201']) {
      for (const stream of [false, true]) {
        const response = await app.inject({ method: 'POST', url: '/v1/completions', payload: { model, prompt: 'x', stream } });
        expect(response.statusCode).toBe(404);
        expect(response.headers['x-injected']).toBeUndefined();
        expect(response.headers['set-cookie']).toBeUndefined();
      }
    }
    await app.close();
  });

  it('puts no prompt or completion text in metric records or span attributes (recordPrompts off)', async () => {
    const sink = new InMemoryMetricsSink();
    const attributes: unknown[] = [];
    const tracer = { withSpan: <T>(name: string, initial: Record<string, unknown> | undefined, fn: (span: { setAttribute(key: string, value: unknown): void }) => T): T => {
      attributes.push(name, initial);
      return fn({ setAttribute: (key, value) => attributes.push(key, value) });
    } };
    const app = createServer({ engine: await fakeEngine({ respond: () => 'COMPLETION-TEXT-7 more words' }), metrics: { ...sink, recordRequest: (record) => sink.recordRequest(record), metrics: async () => '', contentType: 'text/plain' }, tracer });
    for (const stream of [false, true]) {
      await app.inject({ method: 'POST', url: '/v1/completions', payload: { model: 'tiny', prompt: 'PROMPT-TEXT-3 secret', max_tokens: 4, stream } });
      await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'tiny', messages: [{ role: 'user', content: 'PROMPT-TEXT-3 secret' }], max_tokens: 4, stream } });
    }
    expect(sink.requests).toHaveLength(4);
    expect(attributes.length).toBeGreaterThan(0);
    const seen = JSON.stringify([sink.requests, attributes]);
    expect(seen).not.toContain('PROMPT-TEXT');
    expect(seen).not.toContain('COMPLETION-TEXT');
    await app.close();
  });

  it('limits request size and max_tokens with documented codes', async () => {
    const app = createServer({ engine: await fakeEngine(), bodyLimitBytes: 2048, limits: { maxTokensLimit: 64 } });
    const large = await app.inject({ method: 'POST', url: '/v1/completions', payload: { model: 'tiny', prompt: 'x'.repeat(4096) } });
    expect(large.statusCode).toBe(413);
    expect(large.json().error.code).toBe('REQUEST_TOO_LARGE');
    const tokens = await app.inject({ method: 'POST', url: '/v1/completions', payload: { model: 'tiny', prompt: 'x', max_tokens: 65 } });
    expect(tokens.statusCode).toBe(400);
    expect(tokens.json().error).toMatchObject({ code: 'INVALID_REQUEST', message: expect.stringContaining('max_tokens') });
    await app.close();
  });
});

describe('slow clients', () => {
  it('drops a client that trickles its request past requestTimeoutMs with a coded 400, while others are served', async () => {
    running = await startServer({ engine: await fakeEngine(), port: 0, requestTimeoutMs: 1_000 });
    const { port } = running;
    const answers = await Promise.all(Array.from({ length: 3 }, () => new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let received = '';
      socket.on('data', (data) => (received += data.toString()));
      socket.on('error', () => {});
      socket.on('close', () => {
        clearInterval(trickle);
        resolve(received);
      });
      const request = `POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n${JSON.stringify({ model: 'tiny', prompt: 'x'.repeat(40) })}`;
      let sent = 0;
      const trickle = setInterval(() => {
        if (sent < request.length && !socket.destroyed) socket.write(request[sent++]!);
      }, 50);
    })).concat([(async () => {
      // A good request while the slow ones trickle.
      const response = await post(running!.url, JSON.stringify({ model: 'tiny', prompt: 'x', max_tokens: 2 }));
      return `good ${response.status}`;
    })()]));
    expect(answers[3]).toBe('good 200');
    for (const answer of answers.slice(0, 3)) {
      expect(answer).toMatch(/^HTTP\/1.1 400/);
      expect(answer).toContain('"code":"INVALID_REQUEST"');
    }
  }, 20_000);
});

describe('request timeout vs long answers', () => {
  it('bounds only the time to receive a request: a stream and an answer longer than requestTimeoutMs complete', async () => {
    running = await startServer({ engine: await fakeEngine({ delayMs: 80 }), port: 0, requestTimeoutMs: 1_000 });
    const { frames, done } = await readStream(await post(running.url, streamBody(20)));
    expect(done).toBe(true);
    expect(frames.some((frame) => 'error' in frame)).toBe(false);
    expect((await post(running.url, JSON.stringify({ model: 'tiny', prompt: 'x', max_tokens: 20 }))).status).toBe(200);
  }, 20_000);
});

/** An engine that fails mid-stream for prompts containing "boom", after two words. */
class FlakyEngine extends FakeEngine {
  override async *stream(request: GenerationRequest): AsyncIterable<StreamChunk> {
    let count = 0;
    for await (const chunk of super.stream(request)) {
      if (request.prompt?.includes('boom') && ++count > 2) throw new MuaiError('ENGINE_ERROR', 'the engine failed mid-batch; retry');
      yield chunk;
    }
  }
}

describe('engine failures', () => {
  it('a request whose engine fails mid-stream ends with a coded error event; the others in flight are unharmed', async () => {
    const engine = new FlakyEngine({ name: 'flaky', respond: () => words, delayMs: 5 });
    await engine.load({ name: 'tiny', path: '/nowhere' });
    running = await startServer({ engine, port: 0 });
    const url = running.url;
    const prompts = Array.from({ length: 12 }, (_, index) => (index % 3 === 0 ? 'boom' : 'fine'));
    const results = await Promise.all(prompts.map(async (prompt) => readStream(await post(url, JSON.stringify({ model: 'tiny', prompt, max_tokens: 10, stream: true })))));
    results.forEach(({ frames, done }, index) => {
      expect(done).toBe(true);
      const error = frames.find((frame) => 'error' in frame) as { error: { code: string } } | undefined;
      if (prompts[index] === 'boom') expect(error?.error.code).toBe('ENGINE_ERROR');
      else {
        expect(error).toBeUndefined();
        expect(frames.map((frame) => (frame['choices'] as Array<{ text: string }>)[0]?.text ?? '').join('').trim().split(' ')).toHaveLength(10);
      }
    });
    const nonStream = await post(url, JSON.stringify({ model: 'tiny', prompt: 'boom', max_tokens: 10 }));
    expect(nonStream.status).toBe(502);
    expect(((await nonStream.json()) as { error: { code: string } }).error.code).toBe('ENGINE_ERROR');
    expect((await fetch(`${url}/health`)).status).toBe(200);
  });
});
