import { describe, expect, it } from 'vitest';
import { closeAfterEach, refusedEndpoint, startStandInOpenAiServer } from '@muai/engines-http/testing';
import { createDeepSpeedEngine } from '../src/index.js';
import type { DeepSpeedEngine } from '../src/index.js';
import { startStandInMiiRestServer } from './stand-in-mii-rest-server.js';
import type { StandInMiiRestServer } from './stand-in-mii-rest-server.js';

const track = closeAfterEach();
async function gateway(options: Parameters<typeof startStandInMiiRestServer>[0] = {}): Promise<StandInMiiRestServer> {
  return track(await startStandInMiiRestServer(options));
}
function engine(options: Parameters<typeof createDeepSpeedEngine>[0]): DeepSpeedEngine {
  return track(createDeepSpeedEngine({ retryBaseMs: 1, retryMaxMs: 5, ...options }));
}
const posts = (server: StandInMiiRestServer) => server.requests.filter((request) => request.method === 'POST');

describe('stand-in MII REST gateway: DeepSpeedEngine', () => {
  it('posts {"prompts": [...]} with MII generate kwargs (greedy is do_sample=false) to /mii/<deployment>', async () => {
    const server = await gateway();
    const ds = engine({ endpoints: server.url });
    await ds.load({ name: 'm', path: 'org/m' });
    const result = await ds.generate({ prompt: 'a b c', maxTokens: 2, topP: 0.9, topK: 5, stop: ['zz'], seed: 3, minP: 0.2 });
    expect(result).toMatchObject({ text: 'c b', finishReason: 'length', usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5 }, model: 'm' });
    expect(posts(server).at(-1)).toEqual({
      method: 'POST',
      path: '/mii/deepspeed-mii',
      body: { prompts: ['a b c'], do_sample: false, max_new_tokens: 2, top_p: 0.9, top_k: 5, stop: ['zz'] },
    });
    await ds.generate({ prompt: 'a', temperature: 0.7 });
    expect(posts(server).at(-1)!.body).toMatchObject({ do_sample: true, temperature: 0.7 });
  });

  it('accepts the older double-encoded answer (a JSON string holding the list)', async () => {
    const server = await gateway({ legacyStringBody: true });
    const ds = engine({ endpoints: [server.url] });
    expect((await ds.generate({ prompt: 'x y' })).text).toBe('y x');
  });

  it('load() with the wrong deployment name is MODEL_NOT_FOUND naming the setting', async () => {
    const server = await gateway({ deploymentName: 'real' });
    await expect(engine({ endpoints: [server.url], deploymentName: 'wrong' }).load({ name: 'm', path: 'p' })).rejects.toMatchObject({
      code: 'MODEL_NOT_FOUND',
      message: expect.stringContaining('deploymentName'),
    });
  });

  it('load() against a gateway that is down is ENGINE_UNAVAILABLE', async () => {
    await expect(engine({ endpoints: [await refusedEndpoint()] }).load({ name: 'm', path: 'p' })).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
  });

  it('chat messages are refused with a hint to use the OpenAI protocol', async () => {
    const server = await gateway();
    await expect(engine({ endpoints: [server.url] }).generate({ messages: [{ role: 'user', content: 'hi' }] })).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringContaining("protocol 'openai'"),
    });
  });

  it('generateBatch sends same-parameter prompts in one POST and keeps order', async () => {
    const server = await gateway();
    const ds = engine({ endpoints: [server.url] });
    const results = await ds.generateBatch([{ prompt: 'a b' }, { prompt: 'c d', maxTokens: 1 }, { prompt: 'e f' }]);
    expect(results.map((result) => (result as { text: string }).text)).toEqual(['b a', 'd', 'f e']);
    expect(posts(server).map((request) => request.body!.prompts)).toEqual(expect.arrayContaining([['a b', 'e f'], ['c d']]));
    expect(posts(server)).toHaveLength(2);
  });

  it('faults: refused endpoint falls back; 500, malformed JSON and a cut body are ENGINE_ERROR; a hang is REQUEST_TIMEOUT', async () => {
    const good = await gateway();
    const ds = engine({ endpoints: [await refusedEndpoint(), good.url] });
    expect((await ds.generate({ prompt: 'p q' })).text).toBe('q p');
    for (const fault of ['status-500', 'malformed-json', 'cut'] as const) {
      const server = await gateway();
      server.fault = fault;
      await expect(engine({ endpoints: [server.url] }).generate({ prompt: 'p q' })).rejects.toMatchObject({ code: 'ENGINE_ERROR' });
    }
    const hanging = await gateway();
    hanging.fault = 'hang';
    await expect(engine({ endpoints: [hanging.url], timeoutMs: 150 }).generate({ prompt: 'p q' })).rejects.toMatchObject({ code: 'REQUEST_TIMEOUT' });
  });

  it('health() probes the deployment path (405 on GET means up)', async () => {
    const server = await gateway();
    const ds = engine({ endpoints: [server.url, await refusedEndpoint()] });
    const health = await ds.health();
    expect(health.ok).toBe(true);
    expect(health.detail).toMatch(/^unhealthy: http:\/\/127\.0\.0\.1:\d+$/);
  });
});

describe('stand-in MII OpenAI server: DeepSpeedEngine with protocol openai', () => {
  it('uses the mii dialect (no stream_options, no seed) and reads the stream without a usage chunk', async () => {
    const server = await startStandInOpenAiServer({ flavor: 'mii', models: ['org/m'] });
    track(server);
    const ds = engine({ endpoints: [server.url], protocol: 'openai' });
    await ds.load({ name: 'm', path: 'org/m' });
    let text = '';
    let last;
    for await (const chunk of ds.stream({ prompt: 'a b c', seed: 1 })) {
      text += chunk.text;
      last = chunk;
    }
    expect(text).toBe('c b a');
    expect(last).toMatchObject({ finishReason: 'stop', usage: { completionTokens: 3 } });
    const body = server.requests.at(-1)!.body!;
    expect(body.stream_options).toBeUndefined();
    expect(body.seed).toBeUndefined();
  });

  it("an unknown model (MII answers 400 with FastChat code 40301) is MODEL_NOT_FOUND", async () => {
    const server = await startStandInOpenAiServer({ flavor: 'mii', models: ['org/m'] });
    track(server);
    await expect(engine({ endpoints: [server.url], protocol: 'openai' }).generate({ model: 'other', prompt: 'a' })).rejects.toMatchObject({
      code: 'MODEL_NOT_FOUND',
    });
  });
});
