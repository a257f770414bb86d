import { describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { HttpClient } from '../src/http-client.js';
import { OpenAiProtocolClient } from '../src/openai-protocol.js';
import { closeAfterEach, startStandInOpenAiServer } from '../src/testing/index.js';
import type { StandInOpenAiServer } from '../src/testing/index.js';

const track = closeAfterEach();

async function standIn(options: Parameters<typeof startStandInOpenAiServer>[0] = {}): Promise<StandInOpenAiServer> {
  return track(await startStandInOpenAiServer(options));
}

/** Replays a fixture body byte for byte. */
async function replay(body: string, contentType: string) {
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': contentType });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  track({ close: () => new Promise<void>((resolve) => server.close(() => resolve())) });
  return url;
}

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const protocolFor = (url: string, dialect: 'vllm' | 'mii' | 'openai' = 'vllm') =>
  new OpenAiProtocolClient({ http: new HttpClient({ engine: 'vllm', endpoints: [url] }), engine: 'vllm', dialect });

describe('OpenAiProtocolClient against recorded vLLM fixtures', () => {
  it('reads a non-streaming completion', async () => {
    const protocol = protocolFor(await replay(fixture('vllm-completion.json'), 'application/json'));
    const result = await protocol.generate({ prompt: 'The capital of France is' }, 'Qwen/Qwen2.5-0.5B-Instruct');
    expect(result).toMatchObject({
      text: ' Paris is the capital of France.',
      finishReason: 'stop',
      usage: { promptTokens: 7, completionTokens: 8, totalTokens: 15 },
      engineUsed: 'vllm',
    });
  });

  it('reads a streamed chat completion with the usage chunk', async () => {
    const protocol = protocolFor(await replay(fixture('vllm-chat-stream.sse'), 'text/event-stream'));
    const chunks = [];
    for await (const chunk of protocol.stream({ messages: [{ role: 'user', content: 'hi' }] }, 'Qwen/Qwen2.5-0.5B-Instruct')) chunks.push(chunk);
    expect(chunks.map((chunk) => chunk.text)).toEqual(['Hello', ' there', '!', '']);
    expect(chunks.at(-1)).toMatchObject({ finishReason: 'stop', usage: { promptTokens: 12, completionTokens: 3, totalTokens: 15 } });
  });

  it('matches batched choices back by index, with per-prompt token counts', async () => {
    const protocol = protocolFor(await replay(fixture('vllm-completion-batch.json'), 'application/json'));
    const results = await protocol.generateBatch([{ prompt: 'p one' }, { prompt: 'p two' }], () => 'stand-in-model');
    expect(results[0]).toMatchObject({ text: 'first answer', finishReason: 'stop', usage: { promptTokens: 3, completionTokens: 2 } });
    expect(results[1]).toMatchObject({ text: 'second', finishReason: 'length', usage: { promptTokens: 2, completionTokens: 1 } });
  });
});

describe('stand-in vLLM server: request bodies', () => {
  it('maps sampling parameters to vLLM field names, greedy by default', async () => {
    const server = await standIn();
    await protocolFor(server.url).generate(
      { prompt: 'a b', topK: 5, topP: 0.9, minP: 0.1, repetitionPenalty: 1.2, seed: 7, stop: ['x'], stopTokenIds: [2], maxTokens: 4 },
      'stand-in-model',
    );
    expect(server.requests.at(-1)!.body).toEqual({
      model: 'stand-in-model',
      prompt: 'a b',
      temperature: 0,
      max_tokens: 4,
      top_p: 0.9,
      stop: ['x'],
      seed: 7,
      top_k: 5,
      min_p: 0.1,
      repetition_penalty: 1.2,
      stop_token_ids: [2],
    });
  });

  it('sends only OpenAI fields in the openai dialect', async () => {
    const server = await standIn();
    await protocolFor(server.url, 'openai').generate({ prompt: 'a b', topK: 5, minP: 0.1, temperature: 0.5 }, 'stand-in-model');
    const body = server.requests.at(-1)!.body!;
    expect(body.top_k).toBeUndefined();
    expect(body.min_p).toBeUndefined();
    expect(body.temperature).toBe(0.5);
  });

  it('uses /v1/chat/completions for messages and reads message.content', async () => {
    const server = await standIn();
    const result = await protocolFor(server.url).generate({ messages: [{ role: 'user', content: 'hello there world' }] }, 'stand-in-model');
    expect(result.text).toBe('world there hello');
    expect(server.requests.at(-1)!.path).toBe('/v1/chat/completions');
  });

  it('sends prompts that share sampling parameters in ONE completions request', async () => {
    const server = await standIn();
    const protocol = protocolFor(server.url);
    const results = await protocol.generateBatch(
      [{ prompt: 'a b' }, { prompt: 'c d e', maxTokens: 1 }, { prompt: 'f g' }, { messages: [{ role: 'user', content: 'h i' }] }],
      () => 'stand-in-model',
    );
    expect(results.map((result) => (result as { text: string }).text)).toEqual(['b a', 'e', 'g f', 'i h']);
    const completions = server.requests.filter((r) => r.path === '/v1/completions');
    expect(completions.map((r) => r.body!.prompt)).toEqual(expect.arrayContaining([['a b', 'f g'], 'c d e']));
    expect(completions).toHaveLength(2);
    expect(results[0]).toMatchObject({ usage: { promptTokens: 2, completionTokens: 2 } });
  });

  it('when a batched request is rejected, its prompts are retried alone so only the bad one fails', async () => {
    const server = await standIn({ maxModelLen: 6 });
    const results = await protocolFor(server.url).generateBatch(
      [{ prompt: 'a b' }, { prompt: 'one two three four five six seven eight' }, { prompt: 'c d' }],
      () => 'stand-in-model',
    );
    expect((results[0] as { text: string }).text).toBe('b a');
    expect(results[1]).toMatchObject({ code: 'CONTEXT_LENGTH_EXCEEDED' });
    expect((results[2] as { text: string }).text).toBe('d c');
  });

  it('maps an unknown model to MODEL_NOT_FOUND in both error shapes', async () => {
    for (const errorShape of ['nested', 'flat'] as const) {
      const server = await standIn({ errorShape });
      await expect(protocolFor(server.url).generate({ prompt: 'a' }, 'nope')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    }
  });

  it('lists served models with max_model_len', async () => {
    const server = await standIn({ models: ['m1', 'm2'], maxModelLen: 128 });
    expect(await protocolFor(server.url).listModels()).toEqual([
      { id: 'm1', maxModelLen: 128, root: 'm1' },
      { id: 'm2', maxModelLen: 128, root: 'm2' },
    ]);
  });
});
