/**
 * End to end, no stand-ins: `muai serve` (and the in-process `startServer`) with the real ONNX
 * engine is an OpenAI-compatible server, so the vLLM client (and DeepSpeed's OpenAI-protocol mode)
 * pointed at it must answer, greedy, exactly what the ONNX engine answers when called directly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine, GenerationRequest, GenerationResult, StreamChunk } from '@muai/core';
import { createDeepSpeedEngine } from '@muai/engines-deepspeed';
import { createOnnxEngine } from '@muai/engines-onnx';
import { createVllmEngine } from '@muai/engines-vllm';
import { startServer, type RunningServer } from '@muai/server';
import { cliBin, repoRoot, runCli, spawnServe, tinyModel } from './cli-harness.js';

const tiny = tinyModel;
const bin = cliBin;

type Direct = ReturnType<typeof createOnnxEngine>;

const cli = runCli;

/** Runs the built `muai` binary to completion. */
async function muaiBin(argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, ...argv], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
  child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
  const code = await new Promise<number | null>((done) => child.once('close', (exitCode) => done(exitCode)));
  return { code, stdout, stderr };
}

/** A loopback URL where nothing listens (a port just freed). */
async function refusedUrl(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((done) => probe.close(() => done()));
  return `http://127.0.0.1:${port}`;
}

/** The requests compared: a plain prompt and chat messages, greedy. */
function requests(model: string): Record<string, GenerationRequest> {
  return {
    prompt: { model, prompt: 'The capital of France is', maxTokens: 16, temperature: 0 },
    chat: { model, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is AI?' }], maxTokens: 12, temperature: 0 },
    // Long enough to stop on the token limit, short prompt: finish reason `length` either way.
    short: { model, prompt: 'Hi', maxTokens: 3, temperature: 0 },
  };
}

async function collect(engine: Engine, request: GenerationRequest): Promise<{ text: string; chunks: StreamChunk[] }> {
  const chunks: StreamChunk[] = [];
  for await (const chunk of engine.stream!(request)) chunks.push(chunk);
  return { text: chunks.map((chunk) => chunk.text).join(''), chunks };
}

function essentials(result: GenerationResult): { text: string; finishReason: string; completionTokens: number } {
  return { text: result.text, finishReason: result.finishReason, completionTokens: result.usage.completionTokens };
}

/**
 * Same greedy answers through `client` (served id `served`) as through `direct` (model `local`).
 * `streamUsage`: 'exact' when the client asks for usage in the stream (vLLM's
 * `stream_options.include_usage`); 'pieces' when it cannot (MII's OpenAI server sends no usage
 * while streaming), so the client counts text pieces, which can be fewer than tokens.
 */
async function expectSameAnswers(client: Engine, served: string, direct: Direct, local: string, streamUsage: 'exact' | 'pieces' = 'exact'): Promise<void> {
  const remote = requests(served);
  const here = requests(local);
  for (const key of Object.keys(here)) {
    const expected = essentials(await direct.generate(here[key]!));
    expect(expected.text.length, key).toBeGreaterThan(0);
    const actual = essentials(await client.generate(remote[key]!));
    expect(actual, key).toEqual(expected);
  }
  for (const key of ['prompt', 'chat']) {
    const expected = await direct.generate(here[key]!);
    const streamed = await collect(client, remote[key]!);
    expect(streamed.text, key).toBe(expected.text);
    const last = streamed.chunks.at(-1);
    expect(last?.finishReason, key).toBe(expected.finishReason);
    if (streamUsage === 'exact') {
      expect(last?.usage?.completionTokens, key).toBe(expected.usage.completionTokens);
    } else {
      const pieces = streamed.chunks.filter((chunk) => chunk.text !== '').length;
      expect(last?.usage?.completionTokens, key).toBe(pieces);
      expect(pieces, key).toBeLessThanOrEqual(expected.usage.completionTokens);
    }
  }
}

describe('engines-vllm and engines-deepspeed (openai) against the in-process muai server with the ONNX engine', () => {
  let served: Direct;
  let direct: Direct;
  let server: RunningServer;

  beforeAll(async () => {
    if (!existsSync(join(tiny, 'onnx/model.onnx'))) throw new Error(`missing ${tiny}: run \`node tools/model-gen/generate.mjs --size tiny\``);
    served = createOnnxEngine();
    await served.load({ name: 'tiny', path: tiny });
    server = await startServer({ engine: served, port: 0, drainTimeoutMs: 50 });
    // A separate engine instance for the direct calls: nothing shared with the served one.
    direct = createOnnxEngine();
    await direct.load({ name: 'tiny', path: tiny });
  });
  afterAll(async () => {
    await server.close();
    await served.close();
    await direct.close();
  });

  it('vllm: greedy generate() and stream() give the ONNX engine\'s text, finish reason and token count', async () => {
    const client = createVllmEngine({ endpoints: [server.url], model: 'tiny', retries: 0 });
    try {
      const info = await client.load({ name: 'tiny', path: 'tiny' });
      expect(info.name).toBe('tiny');
      expect((await client.health()).ok).toBe(true);
      await expectSameAnswers(client, 'tiny', direct, 'tiny');
    } finally {
      await client.close();
    }
  });

  it('vllm: a batch of prompts gives the same texts as one by one', async () => {
    const client = createVllmEngine({ endpoints: [server.url], model: 'tiny', retries: 0 });
    try {
      const prompts = ['The capital of France is', 'Hello world'];
      const batch = await client.generateBatch!(prompts.map((prompt) => ({ model: 'tiny', prompt, maxTokens: 8, temperature: 0 })));
      for (const [index, prompt] of prompts.entries()) {
        const expected = await direct.generate({ model: 'tiny', prompt, maxTokens: 8, temperature: 0 });
        const result = batch[index];
        expect(result).not.toBeInstanceOf(Error);
        expect(essentials(result as GenerationResult)).toEqual(essentials(expected));
      }
    } finally {
      await client.close();
    }
  });

  it('deepspeed protocol "openai": the same answers', async () => {
    const client = createDeepSpeedEngine({ endpoints: [server.url], protocol: 'openai', model: 'tiny', retries: 0 });
    try {
      await client.load({ name: 'tiny', path: 'tiny' });
      expect((await client.health()).ok).toBe(true);
      await expectSameAnswers(client, 'tiny', direct, 'tiny', 'pieces');
    } finally {
      await client.close();
    }
  });

  it('an unknown served model is MODEL_NOT_FOUND on load()', async () => {
    const client = createVllmEngine({ endpoints: [server.url], retries: 0 });
    try {
      await expect(client.load({ name: 'nope', path: 'nope' })).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    } finally {
      await client.close();
    }
  });

  describe('muai run --engine vllm|deepspeed --endpoint URL', () => {
    const question = 'What is AI?';
    const chatRequest = (maxTokens: number): GenerationRequest => ({ model: 'tiny', messages: [{ role: 'user', content: question }], maxTokens, temperature: 0 });

    it('--engine vllm: finds the served model at /v1/models and prints the ONNX engine\'s greedy answer (chat)', async () => {
      const { code, stdout, stderr } = await cli(['run', question, '--engine', 'vllm', '--endpoint', server.url, '--max-tokens', '8', '--json']);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      const expected = await direct.generate(chatRequest(8));
      expect(JSON.parse(stdout)).toMatchObject({
        text: expected.text,
        finish_reason: expected.finishReason,
        usage: { prompt_tokens: expected.usage.promptTokens, completion_tokens: 8 },
        engine: 'vllm',
        model: 'tiny',
      });
    });

    it('--engine vllm --model ID --raw --stream: the plain-prompt answer, streamed, then the summary line', async () => {
      const { code, stdout } = await cli(['run', 'The capital of France is', '--engine', 'vllm', '--endpoint', server.url, '--model', 'tiny', '--raw', '--stream', '--max-tokens', '10']);
      expect(code).toBe(0);
      const expected = await direct.generate({ model: 'tiny', prompt: 'The capital of France is', maxTokens: 10, temperature: 0 });
      expect(stdout).toBe(`${expected.text}\n${stdout.slice(expected.text.length + 1)}`);
      expect(stdout.slice(expected.text.length + 1)).toMatch(/^-- 10 tokens \(prompt \d+\) \| .* \| engine vllm \| model tiny \| finish length\n$/);
    });

    it('--engine deepspeed --protocol openai: the same answer through MII\'s OpenAI protocol', async () => {
      const { code, stdout } = await cli(['run', question, '--engine', 'deepspeed', '--protocol', 'openai', '--endpoint', server.url, '--max-tokens', '8', '--json']);
      expect(code).toBe(0);
      const expected = await direct.generate(chatRequest(8));
      expect(JSON.parse(stdout)).toMatchObject({ text: expected.text, finish_reason: 'length', usage: { completion_tokens: 8 }, engine: 'deepspeed', model: 'tiny' });
    });

    it('--engine deepspeed (REST protocol) against a server without /mii/<deployment>: MODEL_NOT_FOUND naming the deployment', async () => {
      const { code, stderr } = await cli(['run', question, '--engine', 'deepspeed', '--endpoint', server.url, '--deployment', 'mine']);
      expect(code).toBe(1);
      expect(stderr).toMatch(/^muai: error MODEL_NOT_FOUND: .*"mine"/);
    });

    it('an unreachable endpoint is ENGINE_UNAVAILABLE with exit 1, for each engine and protocol', async () => {
      const url = await refusedUrl();
      for (const flags of [['--engine', 'vllm'], ['--engine', 'vllm', '--model', 'tiny'], ['--engine', 'deepspeed'], ['--engine', 'deepspeed', '--protocol', 'openai', '--model', 'tiny']]) {
        const { code, stdout, stderr } = await cli(['run', question, ...flags, '--endpoint', url]);
        expect(code, flags.join(' ')).toBe(1);
        expect(stdout, flags.join(' ')).toBe('');
        expect(stderr, flags.join(' ')).toMatch(/^muai: error ENGINE_UNAVAILABLE: /);
      }
    });

    it('flags that do not fit the engine are INVALID_REQUEST', async () => {
      const cases = [
        ['--engine', 'vllm'],
        ['--engine', 'tensorrt', '--endpoint', server.url],
        ['--endpoint', server.url],
        ['--engine', 'vllm', '--endpoint', server.url, '--protocol', 'openai'],
        ['--engine', 'deepspeed', '--endpoint', server.url, '--protocol', 'grpc'],
      ];
      for (const flags of cases) {
        const { code, stderr } = await cli(['run', question, ...flags]);
        expect(code, flags.join(' ')).toBe(1);
        expect(stderr, flags.join(' ')).toMatch(/^muai: error INVALID_REQUEST: /);
      }
    });
  });
});

describe('fault end to end: the server stops mid-stream', () => {
  it('the vllm client\'s stream ends with finishReason "error" and the partial text, without hanging', async () => {
    const engine = createOnnxEngine();
    await engine.load({ name: 'tiny', path: tiny });
    // Drain for at most 1 ms: close() then cuts the connections of requests still running.
    const server = await startServer({ engine, port: 0, drainTimeoutMs: 1 });
    const client = createVllmEngine({ endpoints: [server.url], model: 'tiny', retries: 0, timeoutMs: 30_000 });
    try {
      const chunks: StreamChunk[] = [];
      let closing: Promise<unknown> | undefined;
      for await (const chunk of client.stream({ model: 'tiny', prompt: 'Once upon a time', maxTokens: 400, temperature: 0 })) {
        chunks.push(chunk);
        if (chunks.filter((c) => c.text !== '').length === 2) closing ??= server.close();
      }
      await closing;
      const last = chunks.at(-1)!;
      expect(last.finishReason).toBe('error');
      const text = chunks.map((chunk) => chunk.text).join('');
      expect(text.length).toBeGreaterThan(0);
      // The partial text is a prefix of what the engine answers in full.
      const full = await engine.generate({ model: 'tiny', prompt: 'Once upon a time', maxTokens: 400, temperature: 0 });
      expect(full.usage.completionTokens).toBeGreaterThan(chunks.length);
      expect(full.text.startsWith(text)).toBe(true);
    } finally {
      await client.close();
      await server.close();
      await engine.close();
    }
  });
});

describe('fault end to end through `muai run --stream`: the server stops mid-answer', () => {
  it('prints the partial answer, then ENGINE_ERROR with exit 1', async () => {
    const engine = createOnnxEngine();
    await engine.load({ name: 'tiny', path: tiny });
    const server = await startServer({ engine, port: 0, drainTimeoutMs: 1 });
    try {
      let closing: Promise<unknown> | undefined;
      const { code, stdout, stderr } = await cli(
        ['run', 'Once upon a time', '--engine', 'vllm', '--endpoint', server.url, '--raw', '--stream', '--max-tokens', '400'],
        (written) => {
          if (written.length > 0) closing ??= server.close();
        },
      );
      await closing;
      expect(code).toBe(1);
      expect(stderr).toMatch(/^muai: error ENGINE_ERROR: The vllm stream ended early \(finish_reason error\)/);
      const partial = stdout.replace(/\n$/, '');
      expect(partial.length).toBeGreaterThan(0);
      const full = await engine.generate({ model: 'tiny', prompt: 'Once upon a time', maxTokens: 400, temperature: 0 });
      expect(full.text.startsWith(partial)).toBe(true);
      expect(partial.length).toBeLessThan(full.text.length);
    } finally {
      await server.close();
      await engine.close();
    }
  });
});

describe('engines-vllm against the built CLI: `muai serve --port 0`', () => {
  let child: ChildProcess;
  let url = '';
  let direct: Direct;

  beforeAll(async () => {
    const served = await spawnServe({ args: ['--model', tiny] });
    child = served.child;
    url = served.url;
    direct = createOnnxEngine();
    await direct.load({ name: 'tiny', path: tiny });
  }, 60_000);
  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await direct.close();
  });

  it('serves the model as "default", and the vllm client gets the ONNX engine\'s answers', async () => {
    await expect.poll(async () => (await fetch(`${url}/ready`)).status, { timeout: 30_000 }).toBe(200);
    const client = createVllmEngine({ endpoints: [url], model: 'default', retries: 0 });
    try {
      await client.load({ name: 'default', path: 'default' });
      await expectSameAnswers(client, 'default', direct, 'tiny');
    } finally {
      await client.close();
    }
  });

  it('the built `muai run --engine vllm|deepspeed --endpoint URL` answers like the ONNX engine; unreachable is ENGINE_UNAVAILABLE, exit 1', async () => {
    const expected = await direct.generate({ model: 'tiny', messages: [{ role: 'user', content: 'What is AI?' }], maxTokens: 6, temperature: 0 });
    for (const flags of [['--engine', 'vllm', '--model', 'default'], ['--engine', 'deepspeed', '--protocol', 'openai', '--model', 'default']]) {
      const { code, stdout, stderr } = await muaiBin(['run', 'What is AI?', ...flags, '--endpoint', url, '--max-tokens', '6', '--json']);
      expect(stderr, flags.join(' ')).toBe('');
      expect(code, flags.join(' ')).toBe(0);
      expect(JSON.parse(stdout), flags.join(' ')).toMatchObject({ text: expected.text, finish_reason: 'length', usage: { completion_tokens: 6 }, engine: flags[1], model: 'default' });
    }
    // `muai serve` lists more than one model id: without --model the CLI cannot guess.
    const ambiguous = await muaiBin(['run', 'What is AI?', '--engine', 'vllm', '--endpoint', url]);
    expect(ambiguous.code).toBe(1);
    expect(ambiguous.stderr).toMatch(/^muai: error INVALID_REQUEST: The vLLM server serves several models \(.*"default".*\); pass --model/);
    const refused = await muaiBin(['run', 'What is AI?', '--engine', 'vllm', '--endpoint', await refusedUrl()]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^muai: error ENGINE_UNAVAILABLE: Cannot reach vllm at http:\/\/127\.0\.0\.1:\d+\/v1\/models/);
  });

  it('a killed server cuts the stream: finishReason "error", partial text, no hang', async () => {
    const client = createVllmEngine({ endpoints: [url], model: 'default', retries: 0, timeoutMs: 30_000 });
    try {
      const chunks: StreamChunk[] = [];
      for await (const chunk of client.stream({ model: 'default', prompt: 'Once upon a time', maxTokens: 400, temperature: 0 })) {
        chunks.push(chunk);
        if (chunks.filter((c) => c.text !== '').length === 2 && child.exitCode === null) child.kill('SIGKILL');
      }
      expect(chunks.at(-1)?.finishReason).toBe('error');
      const text = chunks.map((chunk) => chunk.text).join('');
      expect(text.length).toBeGreaterThan(0);
      const full = await direct.generate({ model: 'tiny', prompt: 'Once upon a time', maxTokens: 400, temperature: 0 });
      expect(full.text.startsWith(text)).toBe(true);
    } finally {
      await client.close();
    }
  });
});
