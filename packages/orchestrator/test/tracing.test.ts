/**
 * Tracing of the orchestrator stack: orchestrator > workflow > inference > engine call (> batch),
 * first with an in-memory recording tracer (structural, parents tracked with AsyncLocalStorage like
 * OpenTelemetry's context manager), then with @muai/monitoring's real OTelTracer exporting OTLP to
 * an in-test receiver that decodes with the official protos.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import type { GenerationRequest, StreamChunk } from '@muai/core';
import { FakeEngine } from '@muai/core/testing';
import { OTelTracer } from '@muai/monitoring';
import { OptimizationManager, createOrchestratorFromConfig } from '../src/index.js';
import type { SpanAttributes, SpanLike, TracerLike } from '../src/index.js';
// The monitoring package's own OTLP test receiver (official opentelemetry-proto files, protobufjs).
// Test fixtures, not a package API: hence the path import.
// eslint-disable-next-line @nx/enforce-module-boundaries
import { startHttpReceiver, type DecodedSpan } from '../../monitoring/test/helpers/otlp-receiver.js';
import { memoryLogger } from './helpers.js';

interface RecordedSpan {
  id: number;
  name: string;
  parent: number | undefined;
  attributes: Record<string, unknown>;
  status: 'unset' | 'error';
  ended: boolean;
}

/** A tracer that records every span with its parent (the span active in the async context that started it). */
function recordingTracer() {
  const active = new AsyncLocalStorage<RecordedSpan>();
  const spans: RecordedSpan[] = [];
  const withSpan = <T>(name: string, attributes: SpanAttributes | undefined, fn: (span: SpanLike) => T): T => {
    const span: RecordedSpan = { id: spans.length + 1, name, parent: active.getStore()?.id, attributes: { ...attributes }, status: 'unset', ended: false };
    spans.push(span);
    const handle: SpanLike = {
      setAttribute: (key, value) => {
        if (span.ended) throw new Error(`attribute ${key} set on ended span ${name}`);
        span.attributes[key] = value;
      },
    };
    const fail = (error: unknown) => {
      span.status = 'error';
      span.ended = true;
      throw error;
    };
    let result: T;
    try {
      result = active.run(span, () => fn(handle));
    } catch (error) {
      return fail(error);
    }
    if (result instanceof Promise) {
      return result.then((value: unknown) => {
        span.ended = true;
        return value;
      }, fail) as T;
    }
    span.ended = true;
    return result;
  };
  const tracer: TracerLike = {
    withSpan,
    traceWorkflow: (name, fn) => withSpan(`workflow ${name}`, { 'muai.workflow.name': name }, fn),
    traceOrchestrator: (fn, attributes) => withSpan('orchestrator.execute', attributes, fn),
    traceInference: (info, fn) => withSpan(`${info.operation ?? 'text_completion'} ${info.model}`, { 'gen_ai.request.model': info.model }, fn),
    traceEngineCall: (info, fn) =>
      withSpan(`${info.engine} ${info.operation}`, { 'muai.engine.name': info.engine, 'muai.span.kind': info.kind ?? -1, ...(info.model ? { 'gen_ai.request.model': info.model } : {}), ...info.attributes }, fn),
    traceBatch: (info, fn) => withSpan(`batch ${info.model}`, { 'gen_ai.request.model': info.model, 'muai.batch.size': info.size, ...(info.engine ? { 'muai.engine.name': info.engine } : {}) }, fn),
    recordUsage: (span, usage) => {
      if (usage.inputTokens !== undefined) span.setAttribute?.('gen_ai.usage.input_tokens', usage.inputTokens);
      if (usage.outputTokens !== undefined) span.setAttribute?.('gen_ai.usage.output_tokens', usage.outputTokens);
    },
  };
  const byName = (name: string) => spans.filter((span) => span.name === name);
  const one = (name: string) => {
    const found = byName(name);
    expect(found, `spans named ${name}: ${spans.map((s) => s.name).join(', ')}`).toHaveLength(1);
    return found[0] as RecordedSpan;
  };
  return { tracer, spans, byName, one, activeName: () => active.getStore()?.name };
}

const respond = () => 'alpha beta gamma';

/** Healthy (so it is tried), but every generation fails. */
class FailingEngine extends FakeEngine {
  override async generate(): Promise<never> {
    throw new Error('GPU fell off');
  }
}

describe('OptimizationManager engine-call spans', () => {
  it('one span per generation, child of the caller span, with engine, model, attempt and token usage', async () => {
    const recorder = recordingTracer();
    const manager = new OptimizationManager(undefined, { logger: memoryLogger(), tracer: recorder.tracer, engines: { onnx: () => new FakeEngine({ name: 'onnx', respond }) } });
    const result = await recorder.tracer.withSpan!('request', undefined, () => manager.generate({ model: 'm', prompt: 'one two' }));
    expect(result.engineUsed).toBe('onnx');
    const request = recorder.one('request');
    const engine = recorder.one('onnx generate');
    expect(engine).toMatchObject({ parent: request.id, status: 'unset', ended: true });
    expect(engine.attributes).toMatchObject({
      'muai.engine.name': 'onnx',
      'muai.span.kind': 0,
      'gen_ai.request.model': 'm',
      'muai.engine.attempt': 1,
      'gen_ai.usage.input_tokens': result.usage.promptTokens,
      'gen_ai.usage.output_tokens': result.usage.completionTokens,
    });
    expect(result.usage.completionTokens).toBe(3);
    expect(recorder.spans).toHaveLength(2);
  });

  it('a failing engine is an error span naming the fallback; the next engine gets its own span', async () => {
    const recorder = recordingTracer();
    const manager = new OptimizationManager(
      { engine_preference: ['vllm', 'onnx'], vllm: { enabled: true }, fallback_on_error: true },
      {
        logger: memoryLogger(),
        tracer: recorder.tracer,
        engines: { vllm: () => new FailingEngine({ name: 'vllm' }), onnx: () => new FakeEngine({ name: 'onnx', respond }) },
      },
    );
    const result = await recorder.tracer.withSpan!('request', undefined, () => manager.generate({ model: 'm', prompt: 'x' }));
    expect(result.engineUsed).toBe('onnx');
    const request = recorder.one('request');
    const failed = recorder.one('vllm generate');
    const served = recorder.one('onnx generate');
    expect(failed).toMatchObject({ parent: request.id, status: 'error', ended: true });
    expect(failed.attributes).toMatchObject({ 'muai.engine.attempt': 1, 'muai.engine.fallback_reason': 'ENGINE_ERROR', 'muai.engine.fallback_to': 'onnx', 'muai.span.kind': 2 });
    expect(served).toMatchObject({ parent: request.id, status: 'unset' });
    expect(served.attributes).toMatchObject({ 'muai.engine.attempt': 2, 'gen_ai.usage.output_tokens': 3 });
    expect(served.attributes).not.toHaveProperty('muai.engine.fallback_reason');
    expect(failed.id).toBeLessThan(served.id);
  });

  it('without fallback_on_error the failure is one error span with no fallback attributes, and the error reaches the caller', async () => {
    const recorder = recordingTracer();
    const manager = new OptimizationManager(undefined, { logger: memoryLogger(), tracer: recorder.tracer, engines: { onnx: () => new FailingEngine({ name: 'onnx' }) } });
    await expect(manager.generate({ model: 'm', prompt: 'x' })).rejects.toMatchObject({ code: 'ENGINE_ERROR' });
    const span = recorder.one('onnx generate');
    expect(span).toMatchObject({ status: 'error', ended: true, parent: undefined });
    expect(span.attributes).not.toHaveProperty('muai.engine.fallback_reason');
  });

  it('a stream span stays open until the stream ends, and the engine streams from inside it', async () => {
    const recorder = recordingTracer();
    const seenFrom: Array<string | undefined> = [];
    class WatchedEngine extends FakeEngine {
      override async *stream(request: GenerationRequest): AsyncIterable<StreamChunk> {
        for await (const chunk of super.stream(request)) {
          seenFrom.push(recorder.activeName());
          yield chunk;
        }
      }
    }
    const manager = new OptimizationManager(undefined, { logger: memoryLogger(), tracer: recorder.tracer, engines: { onnx: () => new WatchedEngine({ name: 'onnx', respond }) } });
    const iterator = manager.stream({ model: 'm', prompt: 'x' })[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value?.text).toContain('alpha');
    const span = recorder.one('onnx stream');
    expect(span.ended).toBe(false);
    const texts = [first.value?.text];
    for (let step = await iterator.next(); !step.done; step = await iterator.next()) texts.push(step.value.text);
    expect(texts.join('')).toContain('gamma');
    expect(span).toMatchObject({ ended: true, status: 'unset' });
    expect(seenFrom.length).toBeGreaterThan(1);
    expect(new Set(seenFrom)).toEqual(new Set(['onnx stream']));
  });

  it('a consumer that stops early ends the stream span; an engine error mid-stream marks it as an error', async () => {
    const recorder = recordingTracer();
    class BreakingEngine extends FakeEngine {
      override async *stream(request: GenerationRequest): AsyncIterable<StreamChunk> {
        if (request.prompt === 'break') {
          yield { text: 'first' };
          throw new Error('lost the GPU');
        }
        yield* super.stream(request);
      }
    }
    const manager = new OptimizationManager(undefined, { logger: memoryLogger(), tracer: recorder.tracer, engines: { onnx: () => new BreakingEngine({ name: 'onnx', respond }) } });
    for await (const _chunk of manager.stream({ model: 'm', prompt: 'x' })) break;
    const stopped = recorder.spans[0];
    expect(stopped).toMatchObject({ name: 'onnx stream', ended: true, status: 'unset' });

    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const chunk of manager.stream({ model: 'm', prompt: 'break' })) seen.push(chunk.text);
      })(),
    ).rejects.toMatchObject({ code: 'ENGINE_ERROR' });
    expect(seen).toEqual(['first']);
    expect(recorder.spans[1]).toMatchObject({ name: 'onnx stream', ended: true, status: 'error' });
  });

  it('a batch is one span, child of the engine span of its first request; every member span records the batch size', async () => {
    const recorder = recordingTracer();
    const manager = new OptimizationManager(
      { batcher: { enabled: true, max_batch_size: 4, batch_timeout_ms: 50 } },
      { logger: memoryLogger(), tracer: recorder.tracer, engines: { onnx: () => new FakeEngine({ name: 'onnx', respond }) } },
    );
    const results = await Promise.all([0, 1, 2, 3].map((i) => recorder.tracer.withSpan!(`request ${i}`, undefined, () => manager.generate({ model: 'm', prompt: `p${i}` }))));
    expect(results.map((result) => result.engineUsed)).toEqual(['onnx', 'onnx', 'onnx', 'onnx']);
    const batch = recorder.one('batch m');
    expect(batch.attributes).toMatchObject({ 'muai.batch.size': 4, 'muai.engine.name': 'onnx', 'gen_ai.request.model': 'm' });
    const engineSpans = recorder.byName('onnx generate');
    expect(engineSpans).toHaveLength(4);
    for (const span of engineSpans) expect(span.attributes['muai.batch.size']).toBe(4);
    // The first request submitted is the first of the batch.
    const firstRequest = recorder.one('request 0');
    const firstEngine = engineSpans.find((span) => span.parent === firstRequest.id);
    expect(batch.parent).toBe(firstEngine?.id);
    expect(batch.ended).toBe(true);
  });

  it('a tracer that throws costs the tracing, not the request', async () => {
    const broken: TracerLike = {
      traceWorkflow: (_name, fn) => fn({ setAttribute: () => undefined }),
      traceEngineCall: () => {
        throw new Error('tracer bug');
      },
    };
    const manager = new OptimizationManager(undefined, { logger: memoryLogger(), tracer: broken, engines: { onnx: () => new FakeEngine({ name: 'onnx', respond }) } });
    await expect(manager.generate({ model: 'm', prompt: 'a' })).resolves.toMatchObject({ text: 'alpha beta gamma', engineUsed: 'onnx' });
    const chunks: string[] = [];
    for await (const chunk of manager.stream({ model: 'm', prompt: 'a' })) chunks.push(chunk.text);
    expect(chunks.join('')).toBe('alpha beta gamma');
  });

  it('without a tracer nothing is traced and generation, streaming and batching work as before', async () => {
    const manager = new OptimizationManager({ batcher: { enabled: true, max_batch_size: 2, batch_timeout_ms: 5 } }, { logger: memoryLogger(), engines: { onnx: () => new FakeEngine({ name: 'onnx', respond }) } });
    const results = await Promise.all([manager.generate({ model: 'm', prompt: 'a' }), manager.generate({ model: 'm', prompt: 'b' })]);
    expect(results.map((result) => result.text)).toEqual(['alpha beta gamma', 'alpha beta gamma']);
    const chunks: string[] = [];
    for await (const chunk of manager.stream({ model: 'm', prompt: 'a' })) chunks.push(chunk.text);
    expect(chunks.join('')).toBe('alpha beta gamma');
  });
});

describe('createOrchestratorFromConfig tracing', () => {
  it('Orchestrator.execute is one tree: orchestrator > workflow > inference > engine call, usage on inference and engine spans', async () => {
    const recorder = recordingTracer();
    const runtime = createOrchestratorFromConfig({}, { logger: memoryLogger(), tracer: recorder.tracer, engines: { onnx: () => new FakeEngine({ name: 'onnx', respond }) } });
    await runtime.modelManager.loadModel('default');
    const result = await runtime.orchestrator.execute({ query: 'hello there', workflow: 'chat', maxTokens: 8 });
    expect(result.output).toBe('alpha beta gamma');
    const root = recorder.one('orchestrator.execute');
    expect(root.parent).toBeUndefined();
    const workflow = recorder.spans.find((span) => span.parent === root.id);
    expect(workflow?.name).toMatch(/^workflow /);
    const inference = recorder.spans.filter((span) => span.parent === workflow?.id);
    expect(inference).toHaveLength(1);
    expect(inference[0]?.attributes).toMatchObject({ 'gen_ai.request.model': 'default', 'gen_ai.usage.output_tokens': 3 });
    const engine = recorder.spans.filter((span) => span.parent === inference[0]?.id);
    expect(engine.map((span) => span.name)).toEqual(['onnx generate']);
    expect(engine[0]?.attributes).toMatchObject({ 'muai.engine.name': 'onnx', 'gen_ai.request.model': 'default', 'gen_ai.usage.output_tokens': 3 });
    expect(recorder.spans).toHaveLength(4);
    expect(recorder.spans.every((span) => span.ended && span.status === 'unset')).toBe(true);
    await runtime.close();
  });
});

describe('with the real OTelTracer and an OTLP receiver', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('exports one trace: orchestrator.execute > workflow > inference > onnx generate, correctly parented', async () => {
    const receiver = await startHttpReceiver();
    cleanups.push(() => receiver.close());
    const tracer = new OTelTracer({ protocol: 'http', endpoint: receiver.url, serviceName: 'orchestrator-test' });
    cleanups.push(() => tracer.shutdown());
    const runtime = createOrchestratorFromConfig({}, { logger: memoryLogger(), tracer, engines: { onnx: () => new FakeEngine({ name: 'onnx', respond }) } });
    cleanups.push(() => runtime.close());
    await runtime.modelManager.loadModel('default');
    const result = await runtime.orchestrator.execute({ query: 'What is AI? secret words', workflow: 'chat', maxTokens: 8 });
    expect(result.engineUsed).toBe('onnx');
    await tracer.forceFlush();
    const spans = await receiver.waitForSpans(4, 20_000);
    expect(spans).toHaveLength(4);
    expect(new Set(spans.map((span) => span.traceId)).size).toBe(1);
    const childrenOf = (parent: DecodedSpan | undefined) => spans.filter((span) => span.parentSpanId === parent?.spanId);
    const roots = spans.filter((span) => span.parentSpanId === '');
    expect(roots.map((span) => span.name)).toEqual(['orchestrator.execute']);
    const [workflow, ...otherWorkflows] = childrenOf(roots[0]);
    expect(otherWorkflows).toEqual([]);
    expect(workflow?.name).toMatch(/^workflow /);
    const [inference, ...otherInference] = childrenOf(workflow);
    expect(otherInference).toEqual([]);
    expect(inference?.attributes).toMatchObject({ 'gen_ai.request.model': 'default', 'gen_ai.usage.input_tokens': result.usage.promptTokens, 'gen_ai.usage.output_tokens': 3 });
    const [engine, ...otherEngine] = childrenOf(inference);
    expect(otherEngine).toEqual([]);
    expect(engine).toMatchObject({ name: 'onnx generate', kind: 1 /* OTLP SPAN_KIND_INTERNAL */ });
    expect(engine?.attributes).toMatchObject({ 'muai.engine.name': 'onnx', 'muai.engine.operation': 'generate', 'gen_ai.request.model': 'default', 'muai.engine.attempt': 1, 'gen_ai.usage.output_tokens': 3 });
    expect(childrenOf(engine)).toEqual([]);
    expect(spans.every((span) => span.statusCode !== 2)).toBe(true);
    // Prompts are not recorded unless recordPrompts is on.
    for (const span of spans) expect(JSON.stringify(span.attributes)).not.toContain('secret words');
  });

  it('with batching on, the batch span is exported as a child of the first request engine span, in its trace', async () => {
    const receiver = await startHttpReceiver();
    cleanups.push(() => receiver.close());
    const tracer = new OTelTracer({ protocol: 'http', endpoint: receiver.url, serviceName: 'orchestrator-test' });
    cleanups.push(() => tracer.shutdown());
    const runtime = createOrchestratorFromConfig(
      { optimization: { enabled: true, batcher: { enabled: true, max_batch_size: 2, batch_timeout_ms: 200 } } },
      { logger: memoryLogger(), tracer, engines: { onnx: () => new FakeEngine({ name: 'onnx', respond }) } },
    );
    cleanups.push(() => runtime.close());
    await runtime.modelManager.loadModel('default');
    await Promise.all([0, 1].map((i) => runtime.orchestrator.execute({ query: `hello ${i}`, workflow: 'chat', maxTokens: 8 })));
    await tracer.forceFlush();
    const spans = await receiver.waitForSpans(9, 20_000);
    expect(spans.filter((span) => span.parentSpanId === '').map((span) => span.name)).toEqual(['orchestrator.execute', 'orchestrator.execute']);
    const batches = spans.filter((span) => span.name === 'batch default');
    expect(batches).toHaveLength(1);
    expect(batches[0]?.attributes).toMatchObject({ 'muai.batch.size': 2, 'muai.engine.name': 'onnx' });
    const parent = spans.find((span) => span.spanId === batches[0]?.parentSpanId);
    expect(parent?.name).toBe('onnx generate');
    expect(parent?.traceId).toBe(batches[0]?.traceId);
    const engineSpans = spans.filter((span) => span.name === 'onnx generate');
    expect(engineSpans).toHaveLength(2);
    for (const span of engineSpans) expect(span.attributes['muai.batch.size']).toBe(2);
  });
});
