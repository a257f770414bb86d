import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { coerceEnvironmentValue, readEnvironment, resolveEnvironmentVariable } from './environment.js';
import { loadConfig } from './load.js';
import { settingFor, variables } from '../test/arbitraries.js';


function valueAt(root: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], root);
}

describe('variable names', () => {
  it.each([
    ['MUAI_OPT_BATCHER_MAX_BATCH_SIZE', 'optimization.batcher.max_batch_size'],
    ['MUAI_MON_TRACING_SAMPLE_RATE', 'monitoring.tracing.sample_rate'],
    ['MUAI_MON_PROMETHEUS_PORT', 'monitoring.prometheus.port'],
    ['MUAI_OPT_VLLM_ENABLED', 'optimization.vllm.enabled'],
    ['MUAI_OPT_ENABLED', 'optimization.enabled'],
    ['MUAI_MON_ENABLED', 'monitoring.enabled'],
    ['MUAI_OPT_ENGINE_PREFERENCE', 'optimization.engine_preference'],
    ['MUAI_OPT_VLLM_GPU_MEMORY_UTILIZATION', 'optimization.vllm.gpu_memory_utilization'],
    ['MUAI_MON_SERVER_PRELOAD_MODELS', 'monitoring.server.preload_models'],
    ['MUAI_MON_ANOMALY_TARGETS', 'monitoring.anomaly.targets'],
  ])('%s sets %s', (variable, path) => {
    expect(resolveEnvironmentVariable(variable)?.join('.')).toBe(path);
  });

  it('does not resolve names that are not keys', () => {
    for (const name of ['MUAI_OPT_', 'MUAI_OPT_BATCHER_MAX', 'MUAI_OPT_BATCHER_MAX_BATCH_SIZE_X', 'MUAI_MODEL', 'MUAI_OPT_MODELS', 'MUAI_MON_PROMETHEUS_PORTS']) {
      expect(resolveEnvironmentVariable(name)).toBeUndefined();
    }
  });

  it('has one variable for every leaf key of optimization and monitoring, each resolving back to its key', () => {
    expect(variables.length).toBeGreaterThan(80);
    expect(new Set(variables.map((info) => info.variable)).size).toBe(variables.length);
    for (const info of variables) expect(resolveEnvironmentVariable(info.variable)).toEqual(info.path);
  });
});

describe('coercion', () => {
  it('reads booleans, numbers and lists', () => {
    for (const word of ['true', 'TRUE', '1', 'yes', 'on']) expect(coerceEnvironmentValue(word, { kind: 'boolean' })).toEqual({ ok: true, value: true });
    for (const word of ['false', '0', 'No', 'off']) expect(coerceEnvironmentValue(word, { kind: 'boolean' })).toEqual({ ok: true, value: false });
    expect(coerceEnvironmentValue('maybe', { kind: 'boolean' }).ok).toBe(false);
    expect(coerceEnvironmentValue(' 42 ', { kind: 'number', integer: true })).toEqual({ ok: true, value: 42 });
    expect(coerceEnvironmentValue('0.25', { kind: 'number', integer: false })).toEqual({ ok: true, value: 0.25 });
    expect(coerceEnvironmentValue('1e3x', { kind: 'number', integer: false }).ok).toBe(false);
    const ints = { kind: 'array', element: { kind: 'number', integer: true } } as const;
    expect(coerceEnvironmentValue('4, 8,16', ints)).toEqual({ ok: true, value: [4, 8, 16] });
    expect(coerceEnvironmentValue('[4,8]', ints)).toEqual({ ok: true, value: [4, 8] });
    expect(coerceEnvironmentValue('4,x', ints).ok).toBe(false);
  });

  it('lands lists, JSON objects and aliases at their keys', () => {
    const { config, sources } = loadConfig({
      files: [],
      env: {
        MUAI_OPT_ENGINE_PREFERENCE: 'vllm,pytorch',
        MUAI_OPT_BATCHER_PREFERRED_BATCH_SIZES: '[4, 8]',
        MUAI_MON_ANOMALY_TARGETS: '[{"type":"webhook","url":"http://127.0.0.1:9/hook"}]',
        MUAI_OPT_VLLM_ENDPOINTS: 'http://a:8000, http://b:8000',
      },
    });
    expect(config.optimization.engine_preference).toEqual(['vllm', 'onnx']);
    expect(config.optimization.batcher.preferred_batch_sizes).toEqual([4, 8]);
    expect(config.monitoring.anomaly.targets).toEqual([{ type: 'webhook', url: 'http://127.0.0.1:9/hook', format: 'json', headers: {} }]);
    expect(config.optimization.vllm.endpoints).toEqual(['http://a:8000', 'http://b:8000']);
    expect(sources['monitoring.anomaly.targets']).toBe('env:MUAI_MON_ANOMALY_TARGETS');
  });

  it('warns about empty and unknown variables instead of ignoring them silently', () => {
    const reading = readEnvironment({ MUAI_OPT_CACHE_ENABLED: '', MUAI_WHATEVER: '1', PATH: '/bin' });
    expect(reading.overrides).toEqual([]);
    expect(reading.warnings.map((warning) => [warning.code, warning.variable])).toEqual([
      ['EMPTY_VARIABLE', 'MUAI_OPT_CACHE_ENABLED'],
      ['UNKNOWN_VARIABLE', 'MUAI_WHATEVER'],
    ]);
  });
});

describe('property: any environment override lands at its key', () => {
  it('for every variable and valid value, the value is at its key with the variable as source', () => {
    const setting = fc.oneof(...variables.map(settingFor));
    fc.assert(
      fc.property(setting, ({ info, text, value }) => {
        const loaded = loadConfig({ files: [], env: { [info.variable]: text } });
        expect(valueAt(loaded.config, info.path)).toEqual(value);
        expect(loaded.sources[info.path.join('.')]).toBe(`env:${info.variable}`);
        expect(loaded.warnings).toEqual([]);
      }),
      { numRuns: 400 },
    );
  });

  it('many variables at once each land at their own key', () => {
    const settings = fc.uniqueArray(fc.constantFrom(...variables.filter((info) => !info.path.includes('enabled'))), { selector: (info) => info.variable, maxLength: 12 })
      .chain((infos) => fc.tuple(...infos.map(settingFor)));
    fc.assert(
      fc.property(settings, (chosen) => {
        const env = Object.fromEntries(chosen.map(({ info, text }) => [info.variable, text]));
        const { config } = loadConfig({ files: [], env });
        for (const { info, value } of chosen) expect(valueAt(config, info.path)).toEqual(value);
      }),
      { numRuns: 100 },
    );
  });
});
