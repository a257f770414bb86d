import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { MuaiError, type GenerationRequest, type Span, type StreamChunk, type TracerInput } from '@muai/core';
import { FakeEngine } from '@muai/core/testing';
import { createServer } from '../src/index.js';

interface RecordedSpan {
  name: string;
  helper: string;
  parent: RecordedSpan | undefined;
  attributes: Record<string, unknown>;
  outcome: 'open' | 'ok' | 'error';
}

/** A structural tracer that records spans and their parents (through AsyncLocalStorage, like OTel's context). */
function recordingTracer(rich: boolean, log: string[] = []) {
  const spans: RecordedSpan[] = [];
  const active = new AsyncLocalStorage<RecordedSpan>();
  const run = <T>(helper: string, name: string, attributes: Record<string, unknown>, fn: (span: Span) => T): T => {
    const span: RecordedSpan = { name, helper, parent: active.getStore(), attributes: { ...attributes }, outcome: 'open' };
    spans.push(span);
    const handle: Span = { setAttribute: (key, value) => (span.attributes[key] = value) };
    const result = active.run(span, () => fn(handle));
    if (result instanceof Promise) {
      return result.then(
        (value) => {
          span.outcome = 'ok';
          log.push(`end ${name}`);
          return value;
        },
        (error: unknown) => {
          span.outcome = 'error';
          log.push(`end ${name}`);
          throw error;
        },
      ) as T;
    }
    span.outcome = 'ok';
    return result;
  };
  const tracer: TracerInput = { withSpan: (name, attributes, fn) => run('withSpan', name, attributes ?? {}, fn) };
  if (rich) {
    tracer.traceServerRequest = (info, fn) => run('traceServerRequest', `${info.method} ${info.route}`, { 'http.request.method': info.method, 'http.route': info.route }, fn);
    tracer.traceInference = (info, fn) => run('traceInference', `${info.operation} ${info.model}`, { 'gen_ai.request.model': info.model, 'gen_ai.request.max_tokens': info.maxTokens }, fn);
    tracer.recordUsage = (span, usage) => {
      span.setAttribute('usage.input', usage.inputTokens ?? -1);
      span.setAttribute('usage.output', usage.outputTokens ?? -1);
      span.setAttribute('usage.finish', (usage.finishReasons ?? []).join(','));
    };
  }
  return { tracer, spans };
}

async function fakeEngine(options: ConstructorParameters<typeof FakeEngine>[0] = {}) {
  const engine = new FakeEngine({ name: 'fake', respond: () => 'alpha beta gamma delta', ...options });
  await engine.load({ name: 'tiny', path: '/nowhere' });
  return engine;
}

const chat = { model: 'tiny', messages: [{ role: 'user', content: 'hello there' }], max_tokens: 3 };

describe('server spans', () => {
  it('with only withSpan: SERVER-named span > inference span with GenAI attributes and usage', async () => {
    const { tracer, spans } = recordingTracer(false);
    const app = createServer({ engine: await fakeEngine(), tracer });
    const response = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: chat });
    expect(response.statusCode).toBe(200);
    expect(spans.map((span) => [span.name, span.parent?.name])).toEqual([
      ['POST /v1/chat/completions', undefined],
      ['chat tiny', 'POST /v1/chat/completions'],
    ]);
    expect(spans[0]!.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/v1/chat/completions', 'http.response.status_code': 200 });
    expect(spans[1]!.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'tiny',
      'gen_ai.request.max_tokens': 3,
      'gen_ai.usage.input_tokens': 2,
      'gen_ai.usage.output_tokens': 3,
      'gen_ai.response.id': response.json().id,
    });
    expect(spans.every((span) => span.outcome === 'ok')).toBe(true);
  });

  it('uses the richer helpers when present, and the engine call runs inside the inference span', async () => {
    const { tracer, spans } = recordingTracer(true);
    const engine = await fakeEngine();
    const generate = engine.generate.bind(engine);
    engine.generate = (request: GenerationRequest) => tracer.withSpan!('fake generate', {}, () => generate(request));
    const app = createServer({ engine, tracer });
    await app.inject({ method: 'POST', url: '/v1/completions', payload: { model: 'tiny', prompt: 'hi', max_tokens: 2 } });
    expect(spans.map((span) => [span.helper, span.name, span.parent?.name])).toEqual([
      ['traceServerRequest', 'POST /v1/completions', undefined],
      ['traceInference', 'text_completion tiny', 'POST /v1/completions'],
      ['withSpan', 'fake generate', 'text_completion tiny'],
    ]);
    expect(spans[1]!.attributes).toMatchObject({ 'usage.input': 1, 'usage.output': 2, 'usage.finish': 'length', 'muai.engine.name': 'fake' });
  });

  it('a streamed response keeps its spans open until the stream has ended', async () => {
    const log: string[] = [];
    const { tracer, spans } = recordingTracer(true, log);
    const engine = await fakeEngine({ delayMs: 2 });
    const stream = engine.stream.bind(engine);
    engine.stream = (request: GenerationRequest): AsyncIterable<StreamChunk> =>
      (async function* () {
        yield* stream(request);
        log.push('engine stream done');
      })();
    const app = createServer({ engine, tracer });
    const response = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { ...chat, stream: true, stream_options: { include_usage: true } } });
    expect(response.body.trim().endsWith('data: [DONE]')).toBe(true);
    expect(log).toEqual(['engine stream done', 'end chat tiny', 'end POST /v1/chat/completions']);
    expect(spans[1]!.attributes).toMatchObject({ 'usage.output': 3, 'usage.finish': 'length' });
  });

  it('a 4xx answer sets the status code and is not a span error; a failed engine call (5xx) is', async () => {
    const { tracer, spans } = recordingTracer(true);
    const app = createServer({ engine: await fakeEngine(), tracer });
    const invalid = await app.inject({ method: 'POST', url: '/v1/chat/completions', payload: { ...chat, max_tokens: 0 } });
    expect(invalid.statusCode).toBe(400);
    expect(spans).toHaveLength(1);
    expect(spans[0]).toMatchObject({ outcome: 'ok', attributes: expect.objectContaining({ 'http.response.status_code': 400, 'error.type': 'INVALID_REQUEST' }) });

    const failing = recordingTracer(true);
    const broken = createServer({ engine: await fakeEngine({ failWith: new MuaiError('ENGINE_ERROR', 'engine exploded; retry') }), tracer: failing.tracer });
    const failed = await broken.inject({ method: 'POST', url: '/v1/chat/completions', payload: chat });
    expect(failed.statusCode).toBeGreaterThanOrEqual(500);
    expect(failing.spans.map((span) => [span.name, span.outcome])).toEqual([
      ['POST /v1/chat/completions', 'error'],
      ['chat tiny', 'error'],
    ]);
    expect(failing.spans[0]!.attributes['http.response.status_code']).toBe(failed.statusCode);
  });
});
