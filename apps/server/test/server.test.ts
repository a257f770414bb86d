import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import fc from 'fast-check';
import { MuaiError, type GenerationRequest } from '@muai/core';
import { FakeEngine } from '@muai/core/testing';
import { createServer, startServer, type RunningServer, type ServerMetrics } from '../src/index.js';

async function fakeEngine(options: ConstructorParameters<typeof FakeEngine>[0] = {}) {
  const engine = new FakeEngine({ name: 'fake', respond: () => 'alpha beta gamma delta', ...options });
  await engine.load({ name: 'tiny', path: '/nowhere' });
  return engine;
}

describe('OpenAI-compatible routes (in process, inject)', () => {
  it('answers /v1/completions with an OpenAI body and usage', async () => {
    const app = createServer({ engine: await fakeEngine() });
    const response = await app.inject({ method: 'POST', url: '/v1/completions', payload: { model: 'tiny', prompt: 'hello there', max_tokens: 3 } });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.object).toBe('text_completion');
    expect(body.choices[0]).toMatchObject({ index: 0, text: 'alpha beta gamma ', finish_reason: 'length' });
    expect(body.usage).toEqual({ prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 });
  });

  it('tells the engine time and the server time apart in a Server-Timing header', async () => {
    const app = createServer({ engine: await fakeEngine({ delayMs: 30 }) });
    const response = await app.inject({ method: 'POST', url: '/v1/completions', payload: { model: 'tiny', prompt: 'hello there', max_tokens: 2 } });
    expect(response.statusCode).toBe(200);
    const timing = /^engine;dur=([0-9.]+), handler;dur=([0-9.]+)$/.exec(String(response.headers['server-timing']));
    expect(timing).not.toBeNull();
    const [engineMs, handlerMs] = [Number(timing![1]), Number(timing![2])];
    // Two sleeps of 30 ms (one per token) happen inside the engine call; the handler's time holds it.
    expect(engineMs).toBeGreaterThanOrEqual(55);
    expect(handlerMs).toBeGreaterThanOrEqual(engineMs);
  });

  it('maps stop, model errors and validation errors to OpenAI error bodies', async () => {
    const app = createServer({ engine: await fakeEngine() });
    const stopped = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { model: 'tiny', messages: [{ role: 'user', content: 'x' }], stop: 'gamma' } });
    expect(stopped.json().choices[0]).toMatchObject({ message: { role: 'assistant', content: 'alpha beta ' }, finish_reason: 'stop' });
    const unknown = await app.inject({ method: 'POST', url: '/v1/completions', payload: { model: 'nope', prompt: 'x' } });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toMatchObject({ type: 'not_found_error', code: 'MODEL_NOT_FOUND' });
    expect(unknown.json().error.message).toContain('tiny');
    const invalid = await app.inject({ method: 'POST', url: '/v1/completions', payload: { model: 'tiny', prompt: 'x', max_tokens: 0 } });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().error).toMatchObject({ type: 'invalid_request_error', code: 'INVALID_REQUEST' });
    expect(invalid.json().error.message).toContain('max_tokens');
  });

  it('turns an engine failure into a 5xx error response, not a crash', async () => {
    const app = createServer({ engine: await fakeEngine({ failWith: new MuaiError('ENGINE_ERROR', 'engine exploded; retry') }) });
    const response = await app.inject({ method: 'POST', url: '/v1/completions', payload: { model: 'tiny', prompt: 'x' } });
    expect(response.statusCode).toBe(502);
    expect(response.json().error).toMatchObject({ code: 'ENGINE_ERROR', type: 'server_error' });
    const again = await app.inject({ method: 'GET', url: '/health' });
    expect(again.statusCode).toBe(200);
  });

  it('requires the API key when one is set, compared in constant time', async () => {
    const app = createServer({ engine: await fakeEngine(), apiKey: 'sekret' });
    const missing = await app.inject({ method: 'GET', url: '/v1/models' });
    expect(missing.statusCode).toBe(401);
    const wrong = await app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: 'Bearer nope' } });
    expect(wrong.statusCode).toBe(401);
    const right = await app.inject({ method: 'GET', url: '/v1/models', headers: { authorization: 'Bearer sekret' } });
    expect(right.json().data).toEqual([{ id: 'tiny', object: 'model', created: 0, owned_by: 'muai' }]);
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });

  it('reports /ready from the preload state and serves /metrics from the exporter', async () => {
    let ready = false;
    const recorded: unknown[] = [];
    const metrics: ServerMetrics = {
      recordRequest: (record) => recorded.push(record),
      metrics: async () => '# HELP muai_requests_total x\n',
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
    };
    const app = createServer({ engine: await fakeEngine(), isReady: () => ready, metrics });
    expect((await app.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(503);
    ready = true;
    expect((await app.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
    await app.inject({ method: 'POST', url: '/v1/completions', payload: { model: 'tiny', prompt: 'x y' } });
    expect(recorded).toEqual([expect.objectContaining({ model: 'tiny', engine: 'fake', status: 'ok', promptTokens: 2, completionTokens: 4 })]);
    const scraped = await app.inject({ method: 'GET', url: '/metrics' });
    expect(scraped.headers['content-type']).toContain('version=0.0.4');
  });

  it('gives 4xx, never 5xx, to 1000 malformed or hostile bodies, and keeps serving', async () => {
    const app = createServer({ engine: await fakeEngine(), bodyLimitBytes: 64 * 1024 });
    const hostile = fc.oneof(
      fc.anything(),
      fc.record({ prompt: fc.anything(), max_tokens: fc.anything(), model: fc.anything() }, { requiredKeys: [] }),
      fc.record({ messages: fc.array(fc.record({ role: fc.string(), content: fc.anything() })), temperature: fc.anything() }, { requiredKeys: [] }),
      fc.record({ model: fc.constant('tiny'), prompt: fc.string(), max_tokens: fc.oneof(fc.integer(), fc.double()), stop: fc.anything(), n: fc.anything() }),
      fc.string().map((text) => ({ __raw: text })),
    );
    await fc.assert(
      fc.asyncProperty(hostile, fc.constantFrom('/v1/completions', '/v1/chat/completions'), async (body, url) => {
        const raw = typeof body === 'object' && body !== null && '__raw' in body ? String((body as { __raw: string }).__raw) : undefined;
        const payload = raw ?? JSON.stringify(body ?? null) ?? 'null';
        const response = await app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json' } });
        if (response.statusCode >= 500) throw new Error(`5xx for ${payload.slice(0, 200)}: ${response.body}`);
        if (response.statusCode !== 200) expect(response.json().error.message).toBeTruthy();
      }),
      { numRuns: 1000 },
    );
    expect((await app.inject({ method: 'POST', url: '/v1/completions', payload: { model: 'tiny', prompt: 'still here' } })).statusCode).toBe(200);
  });
});

describe('with the official openai npm client over HTTP', () => {
  let running: RunningServer;
  let engine: FakeEngine;
  beforeAll(async () => {
    engine = await fakeEngine({ delayMs: 1 });
    running = await startServer({ engine, port: 0 });
  });
  afterAll(async () => running.close());

  const client = () => new OpenAI({ baseURL: `${running.url}/v1`, apiKey: 'unused', maxRetries: 0 });

  it('completes a chat non-streaming', async () => {
    const completion = await client().chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    expect(completion.choices[0]?.message.content).toBe('alpha beta ');
    expect(completion.choices[0]?.finish_reason).toBe('length');
    expect(completion.usage?.completion_tokens).toBe(2);
  });

  it('streams chat deltas that add up to the text, with usage when asked', async () => {
    const stream = await client().chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('alpha beta gamma delta');
    expect(finish).toBe('stop');
    expect(usage).toMatchObject({ completion_tokens: 4 });
  });

  it('streams plain completions and lists models', async () => {
    const stream = await client().completions.create({ model: 'tiny', prompt: 'x', stream: true, max_tokens: 3 });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe('alpha beta gamma ');
    const models = await client().models.list();
    expect(models.data.map((model) => model.id)).toEqual(['tiny']);
  });

  it('reports errors through the client as APIError with status and code', async () => {
    await expect(client().completions.create({ model: 'missing', prompt: 'x' })).rejects.toMatchObject({ status: 404, code: 'MODEL_NOT_FOUND' });
  });

  it('cancels the generation when the client disconnects', async () => {
    const slow = await fakeEngine({ delayMs: 50, respond: () => Array.from({ length: 200 }, (_, i) => `w${i}`).join(' ') });
    const server = await startServer({ engine: slow, port: 0 });
    const controller = new AbortController();
    const response = await fetch(`${server.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny', prompt: 'x', stream: true, max_tokens: 200 }),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    const call = slow.calls[0]!;
    await expect.poll(() => call.signal?.aborted, { timeout: 5000 }).toBe(true);
    await server.close();
  });

  it('names the port and the variable when the port is taken', async () => {
    await expect(startServer({ engine, port: running.port })).rejects.toMatchObject({ code: 'PORT_IN_USE', message: expect.stringContaining(String(running.port)) });
  });
});

describe('ignore_eos (vLLM extension)', () => {
  it('generates max_tokens past the end-of-sequence token', async () => {
    const seen: GenerationRequest[] = [];
    const engine = new FakeEngine({ name: 'fake', respond: () => 'a b' });
    await engine.load({ name: 'tiny', path: '/nowhere' });
    const generate = engine.generate.bind(engine);
    engine.generate = (request: GenerationRequest) => {
      seen.push(request);
      return generate(request);
    };
    const app = createServer({ engine });
    await app.inject({ method: 'POST', url: '/v1/completions', payload: { model: 'tiny', prompt: 'x', max_tokens: 5, ignore_eos: true } });
    await app.inject({ method: 'POST', url: '/v1/completions', payload: { model: 'tiny', prompt: 'x', max_tokens: 5 } });
    expect(seen.map((request) => request.ignoreEos)).toEqual([true, undefined]);
  });
});
