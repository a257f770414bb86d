import { describe, expect, it } from 'vitest';
import { didYouMean, editDistance } from './did-you-mean.js';
import { describeSources, engineOrder, isEngineEnabled, vllmDtypeFlag } from './helpers.js';
import { loadConfig, parseConfig } from './load.js';

describe('isEngineEnabled and engineOrder', () => {
  it('serves with the embedded engine alone by default', () => {
    const config = parseConfig({});
    expect(isEngineEnabled(config, 'onnx')).toBe(true);
    expect(isEngineEnabled(config, 'pytorch')).toBe(true);
    expect(isEngineEnabled(config, 'vllm')).toBe(false);
    expect(isEngineEnabled(config, 'tensorrt')).toBe(false);
    expect(engineOrder(config)).toEqual(['onnx']);
  });

  it('puts a remote engine switched on by its own flag first, as MUAI_OPT_VLLM_ENABLED=true promises', () => {
    const { config } = loadConfig({ files: [], env: { MUAI_OPT_VLLM_ENABLED: 'true' } });
    expect(isEngineEnabled(config, 'vllm')).toBe(true);
    expect(engineOrder(config)).toEqual(['vllm', 'onnx']);
  });

  it('follows engine_preference among enabled engines and keeps onnx as fallback only with fallback_on_error', () => {
    const both = parseConfig({ optimization: { engine_preference: ['deepspeed', 'vllm'], vllm: { enabled: true }, deepspeed: { enabled: true } } });
    expect(engineOrder(both)).toEqual(['deepspeed', 'vllm', 'onnx']);
    const strict = parseConfig({ optimization: { engine_preference: ['vllm'], fallback_on_error: false, vllm: { enabled: true } } });
    expect(engineOrder(strict)).toEqual(['vllm']);
    const seed = parseConfig({ optimization: { engine_preference: ['vllm', 'pytorch'], vllm: { enabled: true } } });
    expect(engineOrder(seed)).toEqual(['vllm', 'onnx']);
  });

  it('leaves only the embedded engine when optimization is off', () => {
    const { config } = loadConfig({ files: [], env: { MUAI_OPT_ENABLED: 'false', MUAI_OPT_VLLM_ENABLED: 'true' } });
    expect(isEngineEnabled(config, 'vllm')).toBe(false);
    expect(engineOrder(config)).toEqual(['onnx']);
    const none = parseConfig({ optimization: { onnx: { enabled: false } } });
    expect(engineOrder(none)).toEqual([]);
  });
});

describe('describeSources', () => {
  it('lists every leaf with its value and source', () => {
    const loaded = loadConfig({ files: [], env: { MUAI_MON_PROMETHEUS_PORT: '9191' } });
    const entries = describeSources(loaded);
    expect(entries).toContainEqual({ path: 'monitoring.prometheus.port', value: 9191, source: 'env:MUAI_MON_PROMETHEUS_PORT' });
    expect(entries).toContainEqual({ path: 'optimization.batcher.max_batch_size', value: 32, source: 'default' });
    expect(entries.length).toBe(Object.keys(loaded.sources).length);
  });
});

describe('didYouMean', () => {
  it('suggests close names only', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(didYouMean('max_batch_sze', ['max_batch_size', 'batch_timeout_ms'])).toBe('max_batch_size');
    expect(didYouMean('PROMETHEUS', ['prometheus', 'tracing'])).toBe('prometheus');
    expect(didYouMean('zzzz', ['prometheus', 'tracing'])).toBeUndefined();
  });
});

describe('vllmDtypeFlag', () => {
  it('maps the short names the seed uses to vLLM flag values', () => {
    expect(vllmDtypeFlag('fp16')).toBe('float16');
    expect(vllmDtypeFlag('bf16')).toBe('bfloat16');
    expect(vllmDtypeFlag('auto')).toBe('auto');
  });
});
