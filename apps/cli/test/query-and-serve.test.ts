import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOnnxEngine } from '@muai/engines-onnx';
import { runCli, spawnServe, tinyModel } from './cli-harness.js';

const tiny = tinyModel;

const capture = (argv: string[]) => runCli(argv);

describe('muai "What is AI?" (the orchestrator on the embedded engine)', () => {
  beforeAll(() => {
    if (!existsSync(join(tiny, 'onnx/model.onnx'))) throw new Error(`missing ${tiny}: run \`node tools/model-gen/generate.mjs --size tiny\``);
  });

  it('routes, retrieves from docs/, generates, and prints JSON with sources', async () => {
    const { code, stdout } = await capture(['What is AI?', '--json', '--max-tokens', '12']);
    expect(code).toBe(0);
    const result = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(result).toMatchObject({ workflow: 'search_qa', model: 'default', engine: 'onnx', finish_reason: 'length' });
    expect(result.usage.completion_tokens).toBe(12);
    expect(result.output.length).toBeGreaterThan(0);
    expect(result.sources.length).toBeGreaterThan(0);
    expect(result.sources[0].source).toMatch(/\.md$/);
    expect(result.timings.total_ms).toBeGreaterThan(0);
  });

  it('honours --workflow and says plainly what the default model is (stories260K, not an assistant)', async () => {
    const { code, stdout, stderr } = await capture(['summarize', 'this', '--workflow', 'chat', '--max-tokens', '4']);
    expect(code).toBe(0);
    expect(stdout.trim().length).toBeGreaterThan(0);
    expect(stderr).toContain('[chat via');
    expect(stderr).toMatch(/default model stories260K, a 260K-parameter TinyStories model/);
    expect(stderr).not.toContain('random');
  });

  it('an unknown workflow is a coded error with exit 1', async () => {
    const { code, stderr } = await capture(['hello', '--workflow', 'nope']);
    expect(code).toBe(1);
    expect(stderr).toContain('WORKFLOW_NOT_FOUND');
  });
});

describe('muai serve (built CLI, real ONNX engine, official openai client)', () => {
  let child: ChildProcess;
  let url = '';
  let logs: () => string;
  beforeAll(async () => {
    const served = await spawnServe();
    child = served.child;
    url = served.url;
    logs = served.logs;
  }, 60_000);

  it('runs ONNX Runtime in a worker thread when optimization.onnx.worker_thread is unset', () => {
    expect(logs()).toContain('ONNX Runtime in a worker thread');
  });
  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('is ready once the preloaded model is loaded, and answers chat and streaming', async () => {
    await expect.poll(async () => (await fetch(`${url}/ready`)).status, { timeout: 30_000 }).toBe(200);
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const chat = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'What is AI?' }], max_tokens: 6, temperature: 0 });
    expect(chat.usage?.completion_tokens).toBe(6);
    const again = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'What is AI?' }], max_tokens: 6, temperature: 0 });
    expect(again.choices[0]?.message.content).toBe(chat.choices[0]?.message.content);
    const stream = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'What is AI?' }], max_tokens: 6, temperature: 0, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(chat.choices[0]?.message.content);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/muai_requests_total\{[^}]*model="default"[^}]*engine="onnx"[^}]*status="ok"[^}]*\} 3/);
  });

  it('drains and exits 0 on SIGTERM', async () => {
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe('muai serve with optimization.onnx.worker_thread false (ONNX Runtime in process)', () => {
  let served: Awaited<ReturnType<typeof spawnServe>>;
  beforeAll(async () => {
    served = await spawnServe({ env: { MUAI_OPT_ONNX_WORKER_THREAD: 'false' }, waitReady: true });
  }, 60_000);
  afterAll(() => {
    if (served.child.exitCode === null) served.child.kill('SIGKILL');
  });

  it('answers greedy chat exactly as a directly called engine does, and drains on SIGTERM', async () => {
    expect(served.logs()).toContain('ONNX Runtime in process');
    const direct = createOnnxEngine();
    await direct.load({ name: 'default', path: tiny });
    const messages = [{ role: 'user' as const, content: 'What is AI?' }];
    const expected = await direct.generate({ model: 'default', messages, maxTokens: 8, temperature: 0 });
    await direct.close();
    const client = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const chat = await client.chat.completions.create({ model: 'default', messages, max_tokens: 8, temperature: 0 });
    expect(chat.choices[0]?.message.content).toBe(expected.text);
    served.child.kill('SIGTERM');
    expect(await served.exited).toBe(0);
  });
});
