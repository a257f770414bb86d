import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MuaiError } from '@muai/core';
import { computeResult, createOpenAiTarget, promptFileDataset, randomDataset, runBenchmark, shareGptDataset } from '../src/index.js';
import { startStandIn } from './stand-in-server.js';
import type { StandIn } from './stand-in-server.js';

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function preflightError(options: Parameters<typeof createOpenAiTarget>[0]): Promise<MuaiError> {
  const target = createOpenAiTarget(options);
  try {
    await target.preflight();
  } catch (error) {
    if (MuaiError.isInstance(error)) return error;
    throw error;
  } finally {
    await target.close();
  }
  throw new Error('preflight passed');
}

describe('bad targets fail the preflight with a code, before any load', () => {
  let standIn: StandIn;
  beforeAll(async () => {
    standIn = await startStandIn({ ttftMs: 1, itlMs: 1, tokens: 2 });
  });
  afterAll(() => standIn.close());

  it('passes on a real OpenAI-compatible stream', async () => {
    const target = createOpenAiTarget({ baseUrl: `${standIn.url}/v1`, endpoint: '/v1/chat/completions' });
    await target.preflight();
    expect(target.model).toBe('stand-in');
    await target.close();
  });

  it('unreachable URL: BENCH_TARGET_UNREACHABLE', async () => {
    const { server, url } = await listen(() => undefined);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const error = await preflightError({ baseUrl: url, model: 'm' });
    expect(error.code).toBe('BENCH_TARGET_UNREACHABLE');
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('a server that never answers: BENCH_TARGET_UNREACHABLE after the preflight timeout, no hang', async () => {
    const { server, url } = await listen(() => undefined);
    try {
      const started = Date.now();
      const error = await preflightError({ baseUrl: url, model: 'm', preflightTimeoutMs: 400 });
      expect(error.code).toBe('BENCH_TARGET_UNREACHABLE');
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('wrong endpoint (404): BENCH_TARGET_INVALID quoting the answer', async () => {
    const { server, url } = await listen((_req, res) => res.writeHead(404, { 'content-type': 'text/plain' }).end('Cannot POST'));
    try {
      const error = await preflightError({ baseUrl: url, model: 'm' });
      expect(error.code).toBe('BENCH_TARGET_INVALID');
      expect(error.message).toContain('HTTP 404: Cannot POST');
    } finally {
      server.close();
    }
  });

  it('a web page instead of an API: BENCH_TARGET_INVALID', async () => {
    const { server, url } = await listen((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>Welcome</body></html>'));
    try {
      const error = await preflightError({ baseUrl: url, model: 'm' });
      expect(error.code).toBe('BENCH_TARGET_INVALID');
      expect(error.message).toContain('text/html');
    } finally {
      server.close();
    }
  });

  it('an SSE stream that is not OpenAI: BENCH_TARGET_INVALID', async () => {
    const { server, url } = await listen((_req, res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: {"hello": 1}\n\ndata: [DONE]\n\n'));
    try {
      const error = await preflightError({ baseUrl: url, model: 'm' });
      expect(error.code).toBe('BENCH_TARGET_INVALID');
      expect(error.message).toContain('not an OpenAI stream');
    } finally {
      server.close();
    }
  });

  it('an error event in the stream: BENCH_TARGET_INVALID with its message', async () => {
    const { server, url } = await listen((_req, res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: {"error": {"message": "model not loaded"}}\n\n'));
    try {
      const error = await preflightError({ baseUrl: url, model: 'm' });
      expect(error.code).toBe('BENCH_TARGET_INVALID');
      expect(error.message).toContain('model not loaded');
    } finally {
      server.close();
    }
  });

  it('a stream that starts and never ends: BENCH_TARGET_INVALID after the preflight timeout', async () => {
    const { server, url } = await listen((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"choices": [{"text": "a"}]}\n\n');
    });
    try {
      const error = await preflightError({ baseUrl: url, model: 'm', preflightTimeoutMs: 400 });
      expect(error.code).toBe('BENCH_TARGET_INVALID');
      expect(error.message).toContain('did not end within 400 ms');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('accepts CRLF line ends (SSE allows them)', async () => {
    const { server, url } = await listen((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: {"choices": [{"text": "a"}]}\r\n\r\ndata: {"choices": [{"text": "b"}]}\r\n\r\ndata: [DONE]\r\n\r\n'),
    );
    try {
      const target = createOpenAiTarget({ baseUrl: url, model: 'm' });
      await target.preflight();
      const outcome = await target.send({ prompt: 'x', maxTokens: 2 }, new AbortController().signal, true);
      expect(outcome.text).toBe('ab');
      expect(outcome.chunkTimes).toHaveLength(2);
      await target.close();
    } finally {
      server.close();
    }
  });

  it('during a run, a connection that breaks mid-stream is a counted failure, not a hang', async () => {
    let count = 0;
    const { server, url } = await listen((req, res) => {
      req.resume();
      count++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"choices": [{"text": "a"}]}\n\n');
      // Every second request: the socket dies after the first chunk.
      if (count % 2 === 0) setTimeout(() => res.socket?.destroy(), 5);
      else setTimeout(() => res.end('data: {"choices": [{"text": "b"}]}\n\ndata: [DONE]\n\n'), 5);
    });
    try {
      const target = createOpenAiTarget({ baseUrl: url, model: 'm' });
      const run = await runBenchmark({ target, prompts: randomDataset({ numPrompts: 10, inputLen: 2, outputLen: 2 }), maxConcurrency: 1 });
      await target.close();
      const result = computeResult(run);
      expect(result.completed).toBe(5);
      expect(result.failed).toBe(5);
      expect(Object.keys(result.errors)).toEqual(['the connection closed before the stream ended']);
    } finally {
      server.close();
    }
  });

  it('rejects a bad --endpoint and --base-url at once', () => {
    expect(() => createOpenAiTarget({ baseUrl: 'http://x', endpoint: '/v1/embeddings' as '/v1/completions' })).toThrow(/--endpoint/);
    expect(() => createOpenAiTarget({ baseUrl: 'not a url' })).toThrow(/--base-url/);
  });
});

describe('invalid dataset files: DATASET_INVALID', () => {
  const dir = mkdtempSync(join(tmpdir(), 'muai-bench-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  const code = (fn: () => unknown): string | undefined => {
    try {
      fn();
    } catch (error) {
      return MuaiError.isInstance(error) ? `${error.code}: ${error.message}` : String(error);
    }
    return undefined;
  };

  it('missing file, broken JSON, broken JSON line, no conversations, empty prompt file', () => {
    expect(code(() => shareGptDataset(join(dir, 'absent.json'), { numPrompts: 1 }))).toMatch(/^DATASET_INVALID: .*ENOENT/);
    expect(code(() => shareGptDataset(file('a.json', '[{"conversations": ['), { numPrompts: 1 }))).toMatch(/^DATASET_INVALID: .*not valid JSON/);
    expect(code(() => shareGptDataset(file('b.jsonl', '{"conversations": []}\n{oops\n'), { numPrompts: 1 }))).toMatch(/^DATASET_INVALID: .*line 2/);
    expect(code(() => shareGptDataset(file('c.json', '[{"text": "hi"}]'), { numPrompts: 1 }))).toMatch(/^DATASET_INVALID: .*"conversations"/);
    expect(code(() => promptFileDataset(file('d.txt', '\n  \n')))).toMatch(/^DATASET_INVALID: .*no prompt/);
  });
});
