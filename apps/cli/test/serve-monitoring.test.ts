/**
 * `muai serve` as users run it (the built CLI, the real ONNX engine on the generated tiny model),
 * checked with real monitoring tools: an OTLP receiver decoding with the official protos, Debian's
 * promtool and prometheus. Plus the robustness promises of the server: client disconnects cancel,
 * SIGTERM drains, limits answer 4xx with OpenAI error bodies.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine, GenerationRequest, StreamChunk } from '@muai/core';
import { createOnnxEngine } from '@muai/engines-onnx';
import { startServer } from '@muai/server';
// The monitoring package's own test receiver and binary check: they decode with the official
// opentelemetry-proto files in packages/monitoring/test/proto, with that package's protobufjs.
// Test fixtures, not a package API: hence the path import.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startHttpReceiver, type DecodedSpan, type Receiver } from '../../../packages/monitoring/test/helpers/otlp-receiver.js';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { requireBinary } from '../../../packages/monitoring/test/helpers/binaries.js';
import { spawnServe, tinyModel } from './cli-harness.js';
import { freePort } from '@muai/core/testing';

const tiny = tinyModel;

// OTLP SpanKind values (opentelemetry/proto/trace/v1/trace.proto).
const SPAN_KIND_INTERNAL = 1;
const SPAN_KIND_SERVER = 2;

interface Served {
  child: ChildProcess;
  url: string;
  logs: () => string;
  exited: Promise<number | null>;
}

/** Spawns `muai serve --port 0` and resolves once it prints its URL and /ready answers 200. */
const serve = (env: Record<string, string>): Promise<Served> => spawnServe({ env, waitReady: true });


function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  const promtool = requireBinary('promtool');
  return new Promise((resolveCheck, reject) => {
    const child = spawn(promtool, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolveCheck({ code, output }));
    child.stdin.end(text);
  });
}

/** Whether a TCP connection to the URL's port is refused. */
/** True when a new request is refused: answered 503 SHUTTING_DOWN while draining (issue 19), or the connection refused. */
async function refused(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/v1/models`);
    return response.status === 503 && ((await response.json()) as { error?: { code?: string } }).error?.code === 'SHUTTING_DOWN';
  } catch {
    return true;
  }
}

/** Reads an SSE response until `[DONE]` or the end; returns the data lines. */
async function readEvents(response: Response, onEvent?: (data: string) => void): Promise<string[]> {
  const events: string[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (event.startsWith('data: ')) {
        events.push(event.slice(6));
        onEvent?.(event.slice(6));
      }
    }
  }
  return events;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function killOnCleanup(served: Served): void {
  cleanups.push(async () => {
    if (served.child.exitCode === null) {
      served.child.kill('SIGKILL');
      await served.exited;
    }
  });
}

describe('muai serve with tracing and metrics on (OTLP receiver, promtool, prometheus)', () => {
  let receiver: Receiver;
  let served: Served;
  beforeAll(async () => {
    receiver = await startHttpReceiver();
    cleanups.push(() => receiver.close());
    served = await serve({
      MUAI_MON_TRACING_ENABLED: 'true',
      MUAI_MON_TRACING_PROTOCOL: 'http',
      MUAI_MON_TRACING_ENDPOINT: receiver.url,
      MUAI_MON_TRACING_SERVICE_NAME: 'muai-serve-test',
    });
    killOnCleanup(served);
  }, 60_000);

  function treeOf(spans: DecodedSpan[], root: DecodedSpan): { server: DecodedSpan; inference: DecodedSpan; engine: DecodedSpan; trace: DecodedSpan[] } {
    const trace = spans.filter((span) => span.traceId === root.traceId);
    const children = (parent: DecodedSpan) => trace.filter((span) => span.parentSpanId === parent.spanId);
    const [inference, ...otherInference] = children(root);
    expect(otherInference).toEqual([]);
    const [engine, ...otherEngine] = children(inference!);
    expect(otherEngine).toEqual([]);
    expect(children(engine!)).toEqual([]);
    return { server: root, inference: inference!, engine: engine!, trace };
  }

  it('one chat request is one complete, correctly parented span tree: server > inference > engine call', async () => {
    const client = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const chat = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'What is AI?' }], max_tokens: 5, temperature: 0 });
    expect(chat.usage?.completion_tokens).toBe(5);

    await receiver.waitForSpans(3, 20_000);
    const roots = receiver.spans.filter((span) => span.parentSpanId === '');
    expect(roots.map((span) => span.name)).toEqual(['POST /v1/chat/completions']);
    const { server, inference, engine, trace } = treeOf(receiver.spans, roots[0]!);
    expect(trace).toHaveLength(3);
    expect(server).toMatchObject({
      kind: SPAN_KIND_SERVER,
      serviceName: 'muai-serve-test',
      attributes: expect.objectContaining({ 'http.request.method': 'POST', 'http.route': '/v1/chat/completions', 'http.response.status_code': 200 }),
    });
    expect(inference.name).toBe('chat default');
    expect(inference.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'default',
      'gen_ai.request.max_tokens': 5,
      'gen_ai.response.model': 'default',
      'gen_ai.response.id': chat.id,
      'gen_ai.usage.input_tokens': chat.usage?.prompt_tokens,
      'gen_ai.usage.output_tokens': 5,
      'gen_ai.response.finish_reasons': ['length'],
    });
    expect(engine).toMatchObject({ name: 'onnx generate', kind: SPAN_KIND_INTERNAL, attributes: expect.objectContaining({ 'muai.engine.name': 'onnx' }) });
    // Prompts are not recorded unless record_prompts is on.
    for (const span of trace) expect(JSON.stringify(span.attributes)).not.toContain('What is AI?');
    expect(trace.every((span) => span.statusCode !== 2)).toBe(true);
  });

  it('a streaming chat request gets the same tree, its spans ending with the stream', async () => {
    const before = receiver.spans.length;
    const client = new OpenAI({ baseURL: `${served.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'default',
      messages: [{ role: 'user', content: 'Stream it' }],
      max_tokens: 4,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    expect(usage?.completion_tokens).toBe(4);

    await receiver.waitForSpans(before + 3, 20_000);
    const fresh = receiver.spans.slice(before);
    const root = fresh.find((span) => span.parentSpanId === '');
    expect(root?.name).toBe('POST /v1/chat/completions');
    const { inference, engine, trace } = treeOf(fresh, root!);
    expect(trace).toHaveLength(3);
    expect(inference.attributes).toMatchObject({ 'gen_ai.usage.output_tokens': 4, 'gen_ai.usage.input_tokens': usage?.prompt_tokens });
    expect(engine.name).toBe('onnx stream');
  });

  it('a 4xx answer is a server span with its status code and no children, and is not a span error', async () => {
    const before = receiver.spans.length;
    const response = await fetch(`${served.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(response.status).toBe(404);
    await receiver.waitForSpans(before + 1, 20_000);
    const [span] = receiver.spans.slice(before);
    expect(span).toMatchObject({ name: 'POST /v1/chat/completions', parentSpanId: '', attributes: expect.objectContaining({ 'http.response.status_code': 404, 'error.type': 'MODEL_NOT_FOUND' }) });
    expect(span!.statusCode).not.toBe(2);
  });

  it('/metrics passes `promtool check metrics` (but for its note on the vllm: names)', async () => {
    const response = await fetch(`${served.url}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/muai_requests_total\{[^}]*model="default"[^}]*engine="onnx"[^}]*\} \d+/);
    const { output } = await promtoolCheck(text);
    // vLLM-compatible series keep vLLM's ':' names (routers query them so); promtool notes each.
    for (const note of output.split('\n').filter((line) => line !== '')) expect(note).toMatch(/^vllm:\S+ metric names should not contain ':'$/);
  });

  it('a real Prometheus scrapes the server and returns a muai_ series through its query API', async () => {
    const binary = requireBinary('prometheus');
    const target = new URL(served.url).host;
    const dir = mkdtempSync(join(tmpdir(), 'muai-serve-prometheus-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      ['global:', '  scrape_interval: 1s', 'scrape_configs:', '  - job_name: muai-serve', '    scrape_interval: 1s', '    static_configs:', `      - targets: ['${target}']`, ''].join('\n'),
    );
    const prometheusPort = await freePort();
    let log = '';
    const child = spawn(binary, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${prometheusPort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    });

    const query = `http://127.0.0.1:${prometheusPort}/api/v1/query?query=${encodeURIComponent('muai_requests_total{job="muai-serve",status="ok"}')}`;
    type Result = { status: string; data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    let found: Result['data'] | undefined;
    for (let attempt = 0; attempt < 120 && !found; attempt++) {
      if (child.exitCode !== null) throw new Error(`prometheus exited early (code ${child.exitCode}):\n${log}`);
      try {
        const body = (await (await fetch(query)).json()) as Result;
        if (body.status === 'success' && body.data && body.data.result.length > 0) found = body.data;
      } catch {
        // Not listening yet.
      }
      if (!found) await new Promise((done) => setTimeout(done, 250));
    }
    expect(found, `no muai_requests_total series after 30 s; prometheus log:\n${log}`).toBeDefined();
    expect(found!.result[0]!.metric).toMatchObject({ __name__: 'muai_requests_total', job: 'muai-serve', model: 'default', engine: 'onnx', workflow: 'server', status: 'ok' });
    // The two successful chat requests of the tracing tests above.
    expect(Number(found!.result[0]!.value[1])).toBeGreaterThanOrEqual(2);
    child.kill('SIGTERM');
    await exited;
  }, 60_000);
});

describe('muai serve limits (real ONNX engine on the tiny model, context 2048 tokens)', () => {
  let served: Served;
  beforeAll(async () => {
    served = await serve({ MUAI_MON_SERVER_BODY_LIMIT_BYTES: '65536' });
    killOnCleanup(served);
  }, 60_000);

  const post = (body: string) => fetch(`${served.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  it('binds 127.0.0.1 by default', () => {
    expect(new URL(served.url).hostname).toBe('127.0.0.1');
  });

  it('a body over the limit is 413 with an OpenAI error body', async () => {
    const response = await post(JSON.stringify({ model: 'default', messages: [{ role: 'user', content: 'x'.repeat(70_000) }] }));
    expect(response.status).toBe(413);
    const body = (await response.json()) as { error: { message: string; type: string; code: string } };
    expect(body.error).toMatchObject({ type: 'invalid_request_error', code: expect.any(String) });
    expect(body.error.message.length).toBeGreaterThan(0);
  });

  it('a prompt longer than the model context is 400 CONTEXT_LENGTH_EXCEEDED from the engine', async () => {
    const response = await post(JSON.stringify({ model: 'default', messages: [{ role: 'user', content: 'hello world '.repeat(3000) }], max_tokens: 4 }));
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { message: string; code: string } };
    expect(body.error.code).toBe('CONTEXT_LENGTH_EXCEEDED');
    expect(body.error.message).toMatch(/context of 2048 tokens/);
  });

  it('max_tokens over the server limit, or over the model context, is 400', async () => {
    const overLimit = await post(JSON.stringify({ model: 'default', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5000 }));
    expect(overLimit.status).toBe(400);
    expect(((await overLimit.json()) as { error: { param: string | null; message: string } }).error.message).toMatch(/max_tokens/);
    const overContext = await post(JSON.stringify({ model: 'default', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3000 }));
    expect(overContext.status).toBe(400);
    expect(((await overContext.json()) as { error: { code: string } }).error.code).toBe('INVALID_REQUEST');
  });

  it('still serves after all that', async () => {
    const response = await post(JSON.stringify({ model: 'default', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }));
    expect(response.status).toBe(200);
  });
});

describe('muai serve shutdown on SIGTERM', () => {
  const longStream = (url: string) =>
    fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // ignore_eos: the stream runs all 600 tokens, whatever the model emits, so it is surely in flight at SIGTERM.
      body: JSON.stringify({ model: 'default', prompt: 'Once', max_tokens: 600, ignore_eos: true, temperature: 0, stream: true }),
    });

  it('finishes an in-flight stream, refuses new requests (503 SHUTTING_DOWN) meanwhile, then exits 0', async () => {
    const served = await serve({ MUAI_MON_SERVER_DRAIN_TIMEOUT_MS: '60000' });
    killOnCleanup(served);
    const response = await longStream(served.url);
    expect(response.status).toBe(200);
    let signalled = false;
    let done = false;
    let refusedWhileDraining: boolean | undefined;
    let probe: Promise<void> | undefined;
    const events = await readEvents(response, (data) => {
      if (data === '[DONE]') done = true;
      if (signalled) return;
      signalled = true;
      served.child.kill('SIGTERM');
      // Probe once the server is draining, while the stream is still being written.
      probe = (async () => {
        for (let attempt = 0; attempt < 100 && !refusedWhileDraining && !done; attempt++) {
          // Refused while the stream is still running (not merely because the process has exited).
          refusedWhileDraining = (await refused(served.url)) && !done;
          if (!refusedWhileDraining) await new Promise((wait) => setTimeout(wait, 5));
        }
      })();
    });
    await probe;
    expect(events.at(-1)).toBe('[DONE]');
    const finish = JSON.parse(events.at(-2)!) as { choices: Array<{ finish_reason: string }> };
    expect(finish.choices[0]?.finish_reason).toBe('length');
    expect(events.length).toBeGreaterThan(100);
    expect(refusedWhileDraining).toBe(true);
    expect(await served.exited).toBe(0);
  }, 120_000);

  it('the drain timeout bounds the wait: a stream still running ends with a SHUTTING_DOWN error event, and the exit is still 0', async () => {
    const served = await serve({ MUAI_MON_SERVER_DRAIN_TIMEOUT_MS: '200' });
    killOnCleanup(served);
    const response = await longStream(served.url);
    let signalled = false;
    const events = await readEvents(response, () => {
      if (signalled) return;
      signalled = true;
      served.child.kill('SIGTERM');
    }).catch(() => ['(connection cut)']);
    expect(events.some((data) => data.includes('"code":"SHUTTING_DOWN"'))).toBe(true);
    expect(await served.exited).toBe(0);
  }, 120_000);
});

describe('a client that disconnects cancels its generation (in process, real ONNX engine with its KV block cache)', () => {
  it('aborts the engine stream through the request signal, frees its cache blocks, and keeps serving', async () => {
    const onnx = createOnnxEngine({ kvCache: { enabled: true } });
    await onnx.load({ name: 'tiny', path: tiny });
    interface Seen {
      signal: AbortSignal | undefined;
      chunks: number;
      finishReason?: string;
      ended: 'done' | 'error' | 'running';
      whileRunning?: { sequences: number; blocksActive: number; running: number };
    }
    const seen: Seen[] = [];
    const engine: Engine = Object.assign(Object.create(onnx) as Engine, {
      stream(request: GenerationRequest): AsyncIterable<StreamChunk> {
        const record: Seen = { signal: request.signal, chunks: 0, ended: 'running' };
        seen.push(record);
        return (async function* () {
          try {
            for await (const chunk of onnx.stream(request)) {
              record.chunks += 1;
              if (record.chunks === 1) {
                const cache = onnx.cacheStats('tiny')!;
                record.whileRunning = { sequences: cache.sequences, blocksActive: cache.blocksActive, running: onnx.batchStats('tiny').running };
              }
              if (chunk.finishReason) record.finishReason = chunk.finishReason;
              yield chunk;
            }
            record.ended = 'done';
          } catch (error) {
            record.ended = 'error';
            throw error;
          }
        })();
      },
    });
    const running = await startServer({ engine, port: 0 });
    cleanups.push(async () => {
      await running.close();
      await onnx.close();
    });
    const controller = new AbortController();
    const response = await fetch(`${running.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny', prompt: 'Once upon a time there was a model that kept talking', max_tokens: 2000, temperature: 0, stream: true }),
      signal: controller.signal,
    });
    let received = 0;
    await readEvents(response, () => {
      received += 1;
      if (received === 3) controller.abort();
    }).catch(() => undefined);
    await expect.poll(() => seen[0]?.ended, { timeout: 10_000 }).not.toBe('running');
    const first = seen[0]!;
    expect(first.signal?.aborted).toBe(true);
    expect(first.finishReason).toBe('abort');
    expect(first.chunks).toBeLessThan(2000);
    // While it ran, its keys/values were a row of the running batch; once cancelled the row leaves
    // the batch and no cache block is referenced by a live sequence (the prompt's prefix blocks stay
    // as unreferenced, evictable cache).
    expect(first.whileRunning).toMatchObject({ running: 1 });
    await expect.poll(() => onnx.batchStats('tiny').running, { timeout: 5_000 }).toBe(0);
    expect(onnx.cacheStats('tiny')).toMatchObject({ blocksActive: 0, sequences: 0 });

    const after = await fetch(`${running.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny', prompt: 'Once', max_tokens: 3 }),
    });
    expect(after.status).toBe(200);
    expect(((await after.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(3);
  }, 60_000);
});
