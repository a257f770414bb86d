import { describe, expect, it, vi } from 'vitest';
import { NOOP_METRICS, NOOP_TRACER, combineMetricsSinks, toTracer, type MetricsSink, type Span } from './index.js';
import { InMemoryMetricsSink } from './testing/index.js';

describe('metrics sink contract', () => {
  it('combineMetricsSinks forwards every record to every sink, in order', () => {
    const first = new InMemoryMetricsSink();
    const second = new InMemoryMetricsSink();
    const sink = combineMetricsSinks([first, undefined, second]);
    sink.recordRequest({ model: 'm', engine: 'onnx', status: 'ok', latencyMs: 3 });
    sink.recordFallback({ from: 'vllm', to: 'onnx', reason: 'unreachable' });
    sink.recordBatch({ size: 4 });
    sink.recordQueueDepth({ depth: 2 });
    sink.recordCacheStats({ hits: 1, misses: 2 });
    sink.recordAlert({ rule: 'latency', severity: 'warning' });
    for (const target of [first, second]) {
      expect(target.requests).toEqual([{ model: 'm', engine: 'onnx', status: 'ok', latencyMs: 3 }]);
      expect(target.fallbacks[0]?.reason).toBe('unreachable');
      expect(target.batches[0]?.size).toBe(4);
      expect(target.queueDepths[0]?.depth).toBe(2);
      expect(target.cacheStats[0]?.misses).toBe(2);
      expect(target.alerts[0]?.rule).toBe('latency');
    }
  });

  it('a throwing sink neither fails the caller nor starves the others, and is reported once per method', () => {
    const kept = new InMemoryMetricsSink();
    const onError = vi.fn();
    const broken: MetricsSink = { ...NOOP_METRICS, recordRequest: () => { throw new Error('boom'); } };
    const sink = combineMetricsSinks([broken, kept], onError);
    expect(() => sink.recordRequest({ model: 'm', engine: 'onnx', status: 'ok', latencyMs: 1 })).not.toThrow();
    expect(kept.requests).toHaveLength(1);
    expect(onError).toHaveBeenCalledWith(expect.any(Error), 'recordRequest');
  });

  it('accepts partial sinks (the first release only had recordRequest) and skips what they lack', () => {
    const seen: string[] = [];
    const sink = combineMetricsSinks([{ recordRequest: (record) => seen.push(record.model) }], () => { throw new Error('must not be called'); });
    sink.recordRequest({ model: 'x', engine: 'onnx', status: 'ok', latencyMs: 1 });
    sink.recordBatch({ size: 1 });
    expect(seen).toEqual(['x']);
  });

  it('no sinks is the no-op sink', () => {
    expect(combineMetricsSinks([])).toBe(NOOP_METRICS);
  });
});

describe('tracer contract', () => {
  it('NOOP_TRACER runs the function and passes exceptions through', () => {
    expect(NOOP_TRACER.traceEngineCall({ engine: 'onnx', operation: 'generate' }, () => 7)).toBe(7);
    expect(() => NOOP_TRACER.withSpan('x', undefined, () => { throw new Error('through'); })).toThrow('through');
  });

  it('toTracer completes a partial tracer with withSpan-based spans', async () => {
    const spans: Array<{ name: string; attributes: Record<string, unknown> }> = [];
    const partial = {
      traceWorkflow: <T>(name: string, fn: (span: Span) => T) => { spans.push({ name: `workflow ${name}`, attributes: {} }); return fn({ setAttribute: () => undefined }); },
      withSpan: <T>(name: string, attributes: Record<string, string | number | boolean> | undefined, fn: (span: Span) => T) => {
        const entry = { name, attributes: { ...attributes } as Record<string, unknown> };
        spans.push(entry);
        return fn({ setAttribute: (key, value) => { entry.attributes[key] = value; } });
      },
    };
    const tracer = toTracer(partial);
    expect(tracer.traceWorkflow('chat', () => 1)).toBe(1);
    await tracer.traceInference({ model: 'tiny' }, async (span) => tracer.recordUsage(span, { inputTokens: 3, outputTokens: 4 }));
    tracer.traceBatch({ model: 'tiny', size: 2 }, () => undefined);
    expect(spans.map((span) => span.name)).toEqual(['workflow chat', 'text_completion tiny', 'batch tiny']);
    expect(spans[1]?.attributes).toMatchObject({ 'gen_ai.request.model': 'tiny', 'gen_ai.usage.input_tokens': 3, 'gen_ai.usage.output_tokens': 4 });
    expect(toTracer(undefined)).toBe(NOOP_TRACER);
  });
});
