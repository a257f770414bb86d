import { SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { CONTENT_ATTRIBUTES, GEN_AI_ATTRIBUTES } from './gen-ai-attributes.js';
import { NOOP_TRACER, NoopTracer } from '@muai/core';
import { OTelTracer, createTracer, type OTelTracerOptions } from './otel-tracer.js';

const tracers: OTelTracer[] = [];
function make(options: OTelTracerOptions = {}): { tracer: OTelTracer; memory: InMemorySpanExporter } {
  const memory = new InMemorySpanExporter();
  const tracer = new OTelTracer({ exporter: memory, ...options });
  tracers.push(tracer);
  return { tracer, memory };
}
afterEach(async () => {
  await Promise.all(tracers.splice(0).map((t) => t.shutdown()));
});

describe('OTelTracer', () => {
  it('withSpan returns the value of sync and async functions and parents nested spans across awaits', async () => {
    const { tracer, memory } = make();
    const sync = tracer.withSpan('sync', { a: 1 }, () => 42);
    expect(sync).toBe(42);
    const value = await tracer.withSpan('outer', undefined, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      expect(tracer.activeSpan()).toBeDefined();
      return tracer.withSpan('inner', undefined, async () => 'done');
    });
    expect(value).toBe('done');
    expect(tracer.activeSpan()).toBeUndefined();
    await tracer.forceFlush();
    const spans = memory.getFinishedSpans();
    const outer = spans.find((s) => s.name === 'outer');
    const inner = spans.find((s) => s.name === 'inner');
    expect(inner?.parentSpanContext?.spanId).toBe(outer?.spanContext().spanId);
    expect(spans.find((s) => s.name === 'sync')?.attributes).toEqual({ a: 1 });
  });

  it('marks a span as an error and rethrows when the function throws or rejects', async () => {
    const { tracer, memory } = make();
    expect(() =>
      tracer.withSpan('sync-fail', undefined, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    await expect(tracer.withSpan('async-fail', undefined, () => Promise.reject(new Error('bang')))).rejects.toThrow('bang');
    await tracer.forceFlush();
    for (const name of ['sync-fail', 'async-fail']) {
      const span = memory.getFinishedSpans().find((s) => s.name === name);
      expect(span?.status.code).toBe(SpanStatusCode.ERROR);
      expect(span?.events.some((e) => e.name === 'exception')).toBe(true);
    }
  });

  it('drops prompt content unless recordPrompts is on', async () => {
    const off = make();
    off.tracer.traceInference({ model: 'm', prompt: 'hello secret' }, (span) => {
      off.tracer.recordPrompt(span, 'hello secret');
      off.tracer.recordCompletion(span, 'answer');
    });
    off.tracer.withSpan('manual', { 'gen_ai.input.messages': 'hello secret', keep: 'yes' }, () => undefined);
    await off.tracer.forceFlush();
    for (const span of off.memory.getFinishedSpans()) {
      for (const key of Object.keys(span.attributes)) expect(CONTENT_ATTRIBUTES.has(key)).toBe(false);
    }
    expect(off.memory.getFinishedSpans().find((s) => s.name === 'manual')?.attributes).toEqual({ keep: 'yes' });

    const on = make({ recordPrompts: true });
    on.tracer.traceInference({ operation: 'chat', model: 'm', prompt: [{ role: 'user', content: 'hello' }] }, (span) => {
      on.tracer.recordCompletion(span, 'hi');
    });
    await on.tracer.forceFlush();
    const attributes = on.memory.getFinishedSpans()[0]?.attributes ?? {};
    expect(JSON.parse(String(attributes[GEN_AI_ATTRIBUTES.INPUT_MESSAGES]))).toEqual([{ role: 'user', parts: [{ type: 'text', content: 'hello' }] }]);
    expect(String(attributes[GEN_AI_ATTRIBUTES.OUTPUT_MESSAGES])).toContain('hi');
  });

  it('sample rate 0 records nothing, and still runs the traced code', async () => {
    const { tracer, memory } = make({ sampleRate: 0 });
    expect(tracer.traceWorkflow('chat', () => 'ran')).toBe('ran');
    await tracer.forceFlush();
    expect(memory.getFinishedSpans()).toHaveLength(0);
  });

  it('emits gen_ai.system only with legacyGenAiSystem', async () => {
    const { tracer, memory } = make({ legacyGenAiSystem: true });
    tracer.traceInference({ model: 'm', engine: 'vllm' }, () => undefined);
    await tracer.forceFlush();
    expect(memory.getFinishedSpans()[0]?.attributes).toMatchObject({ 'gen_ai.system': 'vllm', 'gen_ai.provider.name': 'vllm' });
  });

  it('does not register itself globally unless asked', () => {
    make();
    expect(trace.getTracerProvider().getTracer('x').startSpan('probe').isRecording()).toBe(false);
  });

  it('rejects an out-of-range sample rate and an unknown protocol', () => {
    expect(() => new OTelTracer({ sampleRate: 2 })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => new OTelTracer({ protocol: 'carrier-pigeon' as never })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('uses attribute names that match @opentelemetry/semantic-conventions', async () => {
    const incubating = await import('@opentelemetry/semantic-conventions/incubating');
    expect(GEN_AI_ATTRIBUTES.OPERATION_NAME).toBe(incubating.ATTR_GEN_AI_OPERATION_NAME);
    expect(GEN_AI_ATTRIBUTES.PROVIDER_NAME).toBe(incubating.ATTR_GEN_AI_PROVIDER_NAME);
    expect(GEN_AI_ATTRIBUTES.REQUEST_MODEL).toBe(incubating.ATTR_GEN_AI_REQUEST_MODEL);
    expect(GEN_AI_ATTRIBUTES.RESPONSE_MODEL).toBe(incubating.ATTR_GEN_AI_RESPONSE_MODEL);
    expect(GEN_AI_ATTRIBUTES.USAGE_INPUT_TOKENS).toBe(incubating.ATTR_GEN_AI_USAGE_INPUT_TOKENS);
    expect(GEN_AI_ATTRIBUTES.USAGE_OUTPUT_TOKENS).toBe(incubating.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS);
    expect(GEN_AI_ATTRIBUTES.REQUEST_MAX_TOKENS).toBe(incubating.ATTR_GEN_AI_REQUEST_MAX_TOKENS);
    expect(GEN_AI_ATTRIBUTES.REQUEST_TEMPERATURE).toBe(incubating.ATTR_GEN_AI_REQUEST_TEMPERATURE);
    expect(GEN_AI_ATTRIBUTES.INPUT_MESSAGES).toBe(incubating.ATTR_GEN_AI_INPUT_MESSAGES);
    expect(GEN_AI_ATTRIBUTES.SYSTEM).toBe(incubating.ATTR_GEN_AI_SYSTEM);
  });
});

describe('NoopTracer and createTracer', () => {
  it('createTracer({ enabled: false }) is a no-op tracer that just runs the code', async () => {
    const tracer = createTracer({ enabled: false });
    expect(tracer).toBeInstanceOf(NoopTracer);
    expect(tracer.enabled).toBe(false);
    expect(tracer.traceWorkflow('chat', () => 1)).toBe(1);
    expect(await tracer.traceInference({ model: 'm' }, async (span) => {
      expect(span.setAttribute('k', 1)).toBeDefined(); // the no-op span accepts attributes and records nothing
      tracer.recordUsage(span, { inputTokens: 1 });
      return 2;
    })).toBe(2);
    expect(() => tracer.withSpan('x', undefined, () => { throw new Error('passes through'); })).toThrow('passes through');
    await expect(tracer.shutdown()).resolves.toBeUndefined();
    expect(NOOP_TRACER.stats().exportedSpans).toBe(0);
  });

  it('createTracer() with defaults is an OTelTracer', async () => {
    const tracer = createTracer({ exporter: new InMemorySpanExporter() });
    expect(tracer).toBeInstanceOf(OTelTracer);
    await tracer.shutdown();
  });
});
