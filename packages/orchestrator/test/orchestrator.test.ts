import { describe, expect, it, vi } from 'vitest';
import { MuaiError } from '@muai/core';
import { FakeEngine } from '@muai/core/testing';
import { loadConfig } from '@muai/config';
import { PerformanceMonitor, PrometheusExporter } from '@muai/monitoring';
import { ModelManager, Orchestrator, Router, createOrchestratorFromConfig } from '../src/index.js';
import type { TracerLike } from '../src/index.js';
import { memoryLogger } from './helpers.js';

/** A tracer that records the span tree as paths. */
function recordingTracer() {
  const stack: string[] = [];
  const spans: Array<{ path: string; error?: string }> = [];
  const run = async <T>(name: string, fn: () => T) => {
    stack.push(name);
    const entry: { path: string; error?: string } = { path: stack.join(' > ') };
    spans.push(entry);
    try {
      return await fn();
    } catch (error) {
      entry.error = (error as MuaiError).code ?? String(error);
      throw error;
    } finally {
      stack.pop();
    }
  };
  const tracer = {
    traceWorkflow: (name: string, fn: () => unknown) => run(name, fn),
    withSpan: (name: string, _attributes: unknown, fn: () => unknown) => run(name, fn),
  } as unknown as TracerLike;
  return { tracer, spans };
}

describe('Orchestrator', () => {
  it('works with no arguments beyond an engine, routes, and explains the route', async () => {
    const orchestrator = new Orchestrator({ modelManager: new ModelManager({ engine: new FakeEngine({ name: 'onnx', respond: () => 'hi!' }) }) });
    const result = await orchestrator.execute({ query: 'hello there' });
    expect(result).toMatchObject({ workflow: 'chat', output: 'hi!', engineUsed: 'onnx', routing: { workflow: 'chat', confidence: 0.9 } });
    expect(result.routing?.reason).toContain('small talk');
  });

  it('lets every present component see every request, ok or error, and keeps serving after a failure', async () => {
    const engine = new FakeEngine({ name: 'onnx', respond: () => 'fine' });
    const { tracer, spans } = recordingTracer();
    const metrics = { recordRequest: vi.fn() };
    const monitor = { recordRequest: vi.fn(), snapshot: vi.fn(() => ({ errors: 0 })) };
    const anomalyDetector = { observe: vi.fn() };
    const orchestrator = new Orchestrator({ modelManager: new ModelManager({ engine }), prometheusExporter: metrics, tracer, performanceMonitor: monitor, anomalyDetector, logger: memoryLogger() });

    await orchestrator.execute({ query: 'hello', workflow: 'chat' });
    expect(spans.map((span) => span.path)).toEqual(['orchestrator.execute', 'orchestrator.execute > ChatWorkflow', 'orchestrator.execute > ChatWorkflow > chat default']);

    // The engine throws mid-request.
    const generate = engine.generate.bind(engine);
    engine.generate = async () => {
      throw new Error('segfault in kernel');
    };
    const error = await orchestrator.execute({ query: 'hello', workflow: 'chat' }).catch((caught: unknown) => caught);
    expect(MuaiError.hasCode(error, 'ENGINE_ERROR')).toBe(true);
    expect(spans.filter((span) => span.error === 'ENGINE_ERROR').map((span) => span.path)).toContain('orchestrator.execute');
    engine.generate = generate;

    await expect(orchestrator.execute({ query: '' })).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    await expect(orchestrator.execute({ query: 'x', workflow: 'nope' })).rejects.toMatchObject({ code: 'WORKFLOW_NOT_FOUND', message: expect.stringContaining('chat, search_qa, summarize') });
    await expect(orchestrator.execute({ query: 'x', workflow: 'chat', model: 'ghost' })).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' });
    expect((await orchestrator.execute({ query: 'hello', workflow: 'chat' })).output).toBe('fine');

    const statuses = metrics.recordRequest.mock.calls.map(([record]) => [record.status, record.errorCode, record.workflow, record.model]);
    expect(statuses).toEqual([
      ['ok', undefined, 'chat', 'default'],
      ['error', 'ENGINE_ERROR', 'chat', 'default'],
      ['error', 'INVALID_REQUEST', 'unknown', 'default'],
      ['error', 'WORKFLOW_NOT_FOUND', 'unknown', 'default'],
      ['error', 'MODEL_NOT_FOUND', 'chat', 'unknown'],
      ['ok', undefined, 'chat', 'default'],
    ]);
    expect(monitor.recordRequest).toHaveBeenCalledTimes(6);
    expect(anomalyDetector.observe).toHaveBeenCalledTimes(6);
    expect(anomalyDetector.observe).toHaveBeenLastCalledWith({ errors: 0 });
  });

  it('never fails a request because a monitoring component throws', async () => {
    const logger = memoryLogger();
    const orchestrator = new Orchestrator({
      modelManager: new ModelManager({ engine: new FakeEngine({ name: 'onnx' }) }),
      prometheusExporter: { recordRequest: () => { throw new Error('registry closed'); } },
      logger,
    });
    await orchestrator.execute({ query: 'hi', workflow: 'chat' });
    await orchestrator.execute({ query: 'hi', workflow: 'chat' });
    expect(logger.warnings).toHaveLength(1);
  });

  it('fits @muai/monitoring: PrometheusExporter counts requests and fallbacks, PerformanceMonitor sees them', async () => {
    const exporter = new PrometheusExporter();
    const monitor = new PerformanceMonitor();
    const runtime = createOrchestratorFromConfig(
      { optimization: { enabled: true, engine_preference: ['vllm', 'onnx'], vllm: { enabled: true } } },
      {
        prometheusExporter: exporter,
        performanceMonitor: monitor,
        logger: memoryLogger(),
        importModule: async (specifier) => {
          throw Object.assign(new Error(`Cannot find package '${specifier}'`), { code: 'ERR_MODULE_NOT_FOUND' });
        },
        engines: { onnx: () => new FakeEngine({ name: 'onnx' }) },
      },
    );
    await runtime.orchestrator.execute({ query: 'hello', workflow: 'chat' });
    const text = await exporter.metrics();
    expect(text).toMatch(/muai_requests_total\{[^}]*engine="onnx"[^}]*\} 1/);
    expect(text).toMatch(/muai_engine_fallbacks_total\{[^}]*from="vllm"[^}]*\} 1/);
    expect(monitor.snapshot()).toMatchObject({ requests: 1 });
  });

  it('createOrchestratorFromConfig builds everything from a loaded config, with env switches from @muai/config', () => {
    const config = loadConfig({
      files: [],
      env: { MUAI_OPT_ENABLED: 'false' },
      overrides: {
        models: { qwen_chat: { path: 'models/generated/tiny' } },
        router: { default_workflow: 'chat', confidence_threshold: 0.8 },
        optimization: { engine_preference: ['vllm', 'pytorch'], vllm: { enabled: true } },
      },
    }).config;
    const runtime = createOrchestratorFromConfig(config, { logger: memoryLogger() });
    expect(runtime.router).toBeInstanceOf(Router);
    expect(runtime.router.defaultWorkflow).toBe('chat');
    expect(runtime.router.confidenceThreshold).toBe(0.8);
    expect(runtime.modelManager.modelNames()).toEqual(['qwen_chat', 'default']);
    expect(runtime.optimizationManager.candidates('qwen_chat')).toEqual(['onnx']);
    const enabled = createOrchestratorFromConfig(loadConfig({ files: [], env: {}, overrides: { optimization: { engine_preference: ['vllm', 'pytorch'], vllm: { enabled: true } } } }).config);
    expect(enabled.optimizationManager.candidates('default')).toEqual(['vllm', 'onnx']);
  });
});
