import { describe, expect, it } from 'vitest';
import { HttpClient } from '../src/http-client.js';
import { OpenAiProtocolClient } from '../src/openai-protocol.js';
import { closeAfterEach, refusedEndpoint, startStandInOpenAiServer } from '../src/testing/index.js';
import type { StreamChunk } from '@muai/core';

const track = closeAfterEach();
async function standIn(options: Parameters<typeof startStandInOpenAiServer>[0] = {}) {
  return track(await startStandInOpenAiServer(options));
}

function client(endpoints: string[], options: Partial<ConstructorParameters<typeof HttpClient>[0]> = {}) {
  const http = new HttpClient({ engine: 'vllm', endpoints, timeoutMs: 2000, retryBaseMs: 1, retryMaxMs: 5, ...options });
  return { http, protocol: new OpenAiProtocolClient({ http, engine: 'vllm', dialect: 'vllm' }) };
}

const request = { prompt: 'one two three four', maxTokens: 16 };

async function drain(stream: AsyncIterable<StreamChunk>) {
  const chunks: StreamChunk[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

describe('stand-in server faults: HttpClient + OpenAiProtocolClient', () => {
  it('an endpoint that refuses connections is skipped: the request lands on the other one and the bad one cools down', async () => {
    const good = await standIn();
    const bad = await refusedEndpoint();
    const { http, protocol } = client([bad, good.url], { probe: async () => false });
    for (let index = 0; index < 4; index += 1) {
      const result = await protocol.generate(request, 'stand-in-model');
      expect(result.text).toBe('four three two one');
    }
    const badState = http.endpointStates().find((state) => state.url === bad)!;
    expect(badState.cooldownUntil).toBeGreaterThan(Date.now());
    expect(badState.served).toBe(0);
    expect(good.requests.filter((r) => r.path === '/v1/completions')).toHaveLength(4);
  });

  it('when every endpoint refuses, the error is ENGINE_UNAVAILABLE naming the endpoint', async () => {
    const bad = await refusedEndpoint();
    const { protocol } = client([bad], { retries: 1 });
    await expect(protocol.generate(request, 'stand-in-model')).rejects.toMatchObject({
      code: 'ENGINE_UNAVAILABLE',
      message: expect.stringContaining(bad.replace('http://', '')),
    });
  });

  it('an endpoint that hangs past the timeout gives REQUEST_TIMEOUT, not a hang, and is not retried', async () => {
    const server = await standIn();
    server.fault = 'hang';
    const { protocol } = client([server.url], { timeoutMs: 150 });
    await expect(protocol.generate(request, 'stand-in-model')).rejects.toMatchObject({ code: 'REQUEST_TIMEOUT' });
    expect(server.requests.filter((r) => r.path === '/v1/completions')).toHaveLength(1);
  });

  it('a 500 is ENGINE_ERROR with the server message and is not retried (generation may have run)', async () => {
    const server = await standIn();
    server.fault = 'status-500';
    const { protocol } = client([server.url]);
    await expect(protocol.generate(request, 'stand-in-model')).rejects.toMatchObject({
      code: 'ENGINE_ERROR',
      message: expect.stringContaining('EngineCore encountered an issue'),
    });
    expect(server.requests.filter((r) => r.path === '/v1/completions')).toHaveLength(1);
  });

  it('a 503 before any byte is retried on another endpoint', async () => {
    const busy = await standIn();
    busy.fault = 'status-503';
    const good = await standIn();
    const { protocol } = client([busy.url, good.url], { probe: async () => false });
    const results = await Promise.all([protocol.generate(request, 'stand-in-model'), protocol.generate(request, 'stand-in-model')]);
    expect(results.map((result) => result.text)).toEqual(['four three two one', 'four three two one']);
  });

  it('malformed JSON is ENGINE_ERROR saying so', async () => {
    const server = await standIn();
    server.fault = 'malformed-json';
    const { protocol } = client([server.url]);
    await expect(protocol.generate(request, 'stand-in-model')).rejects.toMatchObject({
      code: 'ENGINE_ERROR',
      message: expect.stringContaining('malformed'),
    });
  });

  it('a body cut mid-way makes generate() throw ENGINE_ERROR', async () => {
    const server = await standIn();
    server.fault = 'cut-stream';
    const { protocol } = client([server.url]);
    await expect(protocol.generate(request, 'stand-in-model')).rejects.toMatchObject({ code: 'ENGINE_ERROR' });
  });

  it('a stream cut mid-way ends with finishReason error and keeps the partial text', async () => {
    const server = await standIn();
    server.fault = 'cut-stream';
    const { protocol } = client([server.url]);
    const chunks = await drain(protocol.stream(request, 'stand-in-model'));
    expect(chunks.map((chunk) => chunk.text).join('')).toBe('four three');
    expect(chunks.at(-1)!.finishReason).toBe('error');
  });

  it('a malformed SSE event ends the stream with finishReason error', async () => {
    const server = await standIn();
    server.fault = 'malformed-json';
    const { protocol } = client([server.url]);
    const chunks = await drain(protocol.stream(request, 'stand-in-model'));
    expect(chunks.map((chunk) => chunk.text).join('')).toBe('four');
    expect(chunks.at(-1)!.finishReason).toBe('error');
  });

  it("vLLM's mid-stream error event ends the stream with finishReason error", async () => {
    const server = await standIn();
    server.fault = 'error-event';
    const { protocol } = client([server.url]);
    const chunks = await drain(protocol.stream(request, 'stand-in-model'));
    expect(chunks.at(-1)!.finishReason).toBe('error');
  });

  it('a stream that hangs mid-way is ended by the timeout with finishReason error', async () => {
    const server = await standIn({ tokenDelayMs: 400 });
    const { protocol } = client([server.url], { timeoutMs: 600 });
    const chunks = await drain(protocol.stream(request, 'stand-in-model'));
    expect(chunks.at(-1)!.finishReason).toBe('error');
    expect(chunks.length).toBeLessThan(5);
  });

  it('the caller cancelling mid-stream ends it with finishReason abort', async () => {
    const server = await standIn({ tokenDelayMs: 20 });
    const { protocol } = client([server.url]);
    const controller = new AbortController();
    const chunks: StreamChunk[] = [];
    for await (const chunk of protocol.stream({ ...request, signal: controller.signal }, 'stand-in-model')) {
      chunks.push(chunk);
      if (chunks.length === 1) controller.abort();
    }
    expect(chunks.at(-1)!.finishReason).toBe('abort');
  });

  it('a complete stream reports the server finish reason and usage', async () => {
    const server = await standIn();
    const { protocol } = client([server.url]);
    const chunks = await drain(protocol.stream({ prompt: 'a b c d e', maxTokens: 3 }, 'stand-in-model'));
    expect(chunks.map((chunk) => chunk.text).join('')).toBe('e d c');
    expect(chunks.at(-1)).toMatchObject({ finishReason: 'length', usage: { promptTokens: 5, completionTokens: 3, totalTokens: 8 } });
    const sent = server.requests.at(-1)!.body!;
    expect(sent.stream).toBe(true);
    expect(sent.stream_options).toEqual({ include_usage: true });
  });

  it('sends the API key as a bearer token', async () => {
    const server = await standIn({ apiKey: 'secret' });
    await expect(client([server.url]).protocol.generate(request, 'stand-in-model')).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    const result = await client([server.url], { apiKey: 'secret' }).protocol.generate(request, 'stand-in-model');
    expect(result.text).toBe('four three two one');
  });
});
