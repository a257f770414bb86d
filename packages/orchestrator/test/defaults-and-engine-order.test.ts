import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { engineOrder, loadConfig, optimizationSchema, parseConfig } from '@muai/config';
import { FakeEngine } from '@muai/core/testing';
import { OptimizationManager, createOrchestratorFromConfig, normalizeOptimizationConfig } from '../src/index.js';
import { engineOrderOf } from '../src/optimization-config.js';

const quiet = { warn: () => undefined };

describe('one set of defaults, from @muai/config', () => {
  it('a default OptimizationManager uses every setting @muai/config defaults to', () => {
    const defaults = optimizationSchema.parse({});
    // With a section given (the seed's OptimizationConfig(enabled=True)) every other key comes from the schema.
    const settings = new OptimizationManager({ enabled: true }, { logger: quiet }).settings;
    expect(settings.enginePreference).toEqual(defaults.engine_preference);
    expect(settings.fallbackOnError).toBe(defaults.fallback_on_error);
    expect(settings.batcher).toMatchObject({
      enabled: defaults.batcher.enabled,
      maxBatchSize: defaults.batcher.max_batch_size,
      batchTimeoutMs: defaults.batcher.batch_timeout_ms,
      maxQueueSize: defaults.batcher.max_queue_size,
    });
    expect(settings.cache).toMatchObject({ enabled: defaults.cache.enabled, maxMemoryMb: defaults.cache.max_memory_mb });
    // The original guide's numbers, so a drift in the schema is caught here too.
    expect(settings.batcher.maxBatchSize).toBe(32);
    expect(settings.batcher.batchTimeoutMs).toBe(50);
    // No config at all: optimization off (zero breaking changes), same defaults otherwise.
    const off = new OptimizationManager(undefined, { logger: quiet }).settings;
    expect(off.enabled).toBe(false);
    expect(off.batcher.maxBatchSize).toBe(defaults.batcher.max_batch_size);
    expect(normalizeOptimizationConfig(parseConfig({}).optimization)).toEqual({ ...settings, batcher: { ...settings.batcher, raw: expect.any(Object) }, cache: { ...settings.cache, raw: expect.any(Object) }, engines: expect.any(Object) });
  });
});

describe('engine order follows @muai/config', () => {
  it('for every valid optimization section, the orchestrator tries engines in engineOrder(config) order', () => {
    const name = fc.constantFrom('onnx', 'vllm', 'deepspeed', 'pytorch');
    fc.assert(
      fc.property(
        fc.record({
          enabled: fc.boolean(),
          engine_preference: fc.array(name, { minLength: 1, maxLength: 4 }),
          fallback_on_error: fc.boolean(),
          onnx: fc.record({ enabled: fc.boolean() }),
          vllm: fc.record({ enabled: fc.boolean() }),
          deepspeed: fc.record({ enabled: fc.boolean() }),
        }),
        (optimization) => {
          const config = parseConfig({ optimization });
          expect(engineOrderOf(normalizeOptimizationConfig(config.optimization))).toEqual(engineOrder(config));
        },
      ),
      { numRuns: 300 },
    );
  });

  // Issue "the original guide's checklist" item 3: the guide's Option A did nothing.
  it('MUAI_OPT_VLLM_ENABLED=true alone sends requests to vLLM first (the guide\'s Option A), with the embedded engine as fallback', async () => {
    const { config } = loadConfig({ files: [], env: { MUAI_OPT_VLLM_ENABLED: 'true', MUAI_OPT_VLLM_ENDPOINTS: 'http://127.0.0.1:9' } });
    const runtime = createOrchestratorFromConfig(config, {
      logger: quiet,
      engines: { vllm: () => new FakeEngine({ name: 'vllm', respond: () => 'from vllm' }), onnx: () => new FakeEngine({ name: 'onnx', respond: () => 'from onnx' }) },
    });
    try {
      expect(runtime.optimizationManager.candidates('default')).toEqual(['vllm', 'onnx']);
      const result = await runtime.modelManager.generate({ prompt: 'What is AI?' });
      expect(result.engineUsed).toBe('vllm');
    } finally {
      await runtime.close();
    }
  });
});
