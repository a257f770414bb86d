import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigInvalidError, MuaiError } from '@muai/core';
import { describe, expect, it } from 'vitest';
import { fixture, repoRoot, tempProject } from '../test/helpers.js';
import { loadConfig, loadOptimizationConfig, parseConfig } from './load.js';

const seedFixtures = readdirSync(join(repoRoot, 'config/fixtures')).filter((name) => name.startsWith('seed-'));

function problemsOf(run: () => unknown): ConfigInvalidError['problems'] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigInvalidError);
    expect((error as ConfigInvalidError).code).toBe('CONFIG_INVALID');
    return (error as ConfigInvalidError).problems;
  }
  throw new Error('expected ConfigInvalidError, but loading succeeded');
}

describe('seed examples', () => {
  it('keeps every YAML example of the migration guide as a fixture', () => {
    expect(seedFixtures.length).toBeGreaterThanOrEqual(11);
  });

  it.each(seedFixtures)('%s parses unchanged', (name) => {
    const loaded = loadConfig({ files: [fixture(name)], env: {} });
    expect(loaded.warnings).toEqual([]);
    expect(Object.values(loaded.sources)).toContain(fixture(name));
  });

  it('reads the minimal form, with pytorch meaning the embedded onnx engine', () => {
    const { config } = loadConfig({ files: [fixture('seed-optimization-minimal.yaml')], env: {} });
    expect(config.optimization.enabled).toBe(true);
    expect(config.optimization.engine_preference).toEqual(['onnx']);
    expect(config.monitoring.prometheus).toMatchObject({ enabled: true, port: 9090 });
    expect(config.optimization.batcher.enabled).toBe(false);
  });

  it('reads the merged single-file form exactly as the same keys in two files', () => {
    const merged = loadConfig({ files: [fixture('seed-system-merged.yaml')], env: {} });
    expect(merged.config.models['qwen_chat']).toMatchObject({ path: 'Qwen/Qwen-7B-Chat', device: 'cuda', load_in_8bit: false });
    expect(merged.config.router).toMatchObject({ default_workflow: 'search_qa', confidence_threshold: 0.7 });
    expect(merged.config.optimization.engine_preference).toEqual(['vllm', 'onnx']);
    expect(merged.config.optimization.vllm).toMatchObject({ enabled: true, tensor_parallel_size: 1, dtype: 'fp16' });

    const dir = tempProject({
      'config/system.yaml': 'models:\n  qwen_chat:\n    path: "Qwen/Qwen-7B-Chat"\n    device: "cuda"\n    load_in_8bit: false\nrouter:\n  default_workflow: "search_qa"\n  confidence_threshold: 0.7\n',
      'config/optimization.yaml':
        'optimization:\n  enabled: true\n  engine_preference: [vllm, pytorch]\n  vllm:\n    enabled: true\n    tensor_parallel_size: 1\n    dtype: fp16\nmonitoring:\n  enabled: true\n  prometheus:\n    enabled: true\n    port: 9090\n',
    });
    const separate = loadConfig({ cwd: dir, env: {} });
    expect(separate.files).toEqual(['config/system.yaml', 'config/optimization.yaml']);
    expect(separate.config).toEqual(merged.config);
    expect(separate.sources['models.qwen_chat.path']).toBe('config/system.yaml');
    expect(separate.sources['optimization.vllm.dtype']).toBe('config/optimization.yaml');
  });

  it('turns everything off with the rollback form', () => {
    const { config } = loadConfig({ files: [fixture('seed-rollback-minimal.yaml')], env: { MUAI_OPT_VLLM_ENABLED: 'true', MUAI_MON_PROMETHEUS_ENABLED: 'true' } });
    expect(config.optimization.vllm.enabled).toBe(false);
    expect(config.monitoring.prometheus.enabled).toBe(false);
  });

  it('reads the troubleshooting snippets', () => {
    expect(loadOptimizationConfig(fixture('seed-vllm-memory.yaml'), { env: {} }).vllm.gpu_memory_utilization).toBe(0.7);
    expect(loadOptimizationConfig(fixture('seed-batcher-size.yaml'), { env: {} }).batcher.max_batch_size).toBe(8);
    expect(loadOptimizationConfig(fixture('seed-batcher-timeout.yaml'), { env: {} }).batcher.batch_timeout_ms).toBe(10);
    expect(loadConfig({ files: [fixture('seed-server-preload.yaml')], env: {} }).config.monitoring.server.preload_models).toEqual(['qwen_chat']);
    expect(loadConfig({ files: [fixture('seed-server-no-preload.yaml')], env: {} }).config.monitoring.server.preload_models).toEqual([]);
  });
});

describe('loadConfig', () => {
  it('applies defaults < files < environment < overrides, and says where each value came from', () => {
    const dir = tempProject({
      'a.yaml': 'optimization:\n  batcher:\n    max_batch_size: 8\n    batch_timeout_ms: 20\n    max_queue_size: 10\n',
      'b.yaml': 'optimization:\n  batcher:\n    batch_timeout_ms: 30\n    max_queue_size: 20\n',
    });
    const loaded = loadConfig({
      cwd: dir,
      files: ['a.yaml', 'b.yaml'],
      env: { MUAI_OPT_BATCHER_MAX_QUEUE_SIZE: '40', MUAI_OPT_BATCHER_PRIORITY_LEVELS: '3' },
      overrides: { optimization: { batcher: { priority_levels: 5 } } },
    });
    expect(loaded.config.optimization.batcher).toMatchObject({ max_batch_size: 8, batch_timeout_ms: 30, max_queue_size: 40, priority_levels: 5, request_timeout_ms: 30000 });
    expect(loaded.sources).toMatchObject({
      'optimization.batcher.max_batch_size': 'a.yaml',
      'optimization.batcher.batch_timeout_ms': 'b.yaml',
      'optimization.batcher.max_queue_size': 'env:MUAI_OPT_BATCHER_MAX_QUEUE_SIZE',
      'optimization.batcher.priority_levels': 'override',
      'optimization.batcher.request_timeout_ms': 'default',
    });
  });

  it('reads a section left empty (every key below it commented out) as defaults', () => {
    const dir = tempProject({ 'empty.yaml': 'models:\noptimization:\n  batcher:\n  #  enabled: true\nmonitoring:\n' });
    const { config } = loadConfig({ cwd: dir, files: ['empty.yaml'], env: {} });
    expect(config.optimization.batcher).toEqual(parseConfig({}).optimization.batcher);
    expect(config.models).toEqual({});
    expect(problemsOf(() => parseConfig({ optimization: { batcher: { max_batch_size: null } } }))[0]!.path).toBe('optimization.batcher.max_batch_size');
  });

  it('reads pytorch as onnx for a model engine too', () => {
    expect(parseConfig({ models: { m: { path: 'x', engine: 'pytorch' } } }).models['m']!.engine).toBe('onnx');
  });

  it('returns a frozen configuration', () => {
    const { config, sources } = loadConfig({ files: [], env: {} });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.optimization.batcher)).toBe(true);
    expect(Object.isFrozen(config.optimization.engine_preference)).toBe(true);
    expect(Object.isFrozen(sources)).toBe(true);
    expect(() => {
      (config.optimization.batcher as { max_batch_size: number }).max_batch_size = 1;
    }).toThrow(TypeError);
  });

  it('discovers config/system.yaml and config/optimization.yaml, and skips missing ones', () => {
    const dir = tempProject({ 'config/optimization.yaml': 'optimization:\n  cache:\n    enabled: true\n' });
    const loaded = loadConfig({ cwd: dir, env: {} });
    expect(loaded.files).toEqual(['config/optimization.yaml']);
    expect(loaded.config.optimization.cache.enabled).toBe(true);
    expect(loadConfig({ cwd: tempProject(), env: {} }).files).toEqual([]);
  });

  it('reads the files listed in MUAI_CONFIG instead of the default ones', () => {
    const dir = tempProject({
      'config/optimization.yaml': 'optimization:\n  cache:\n    enabled: true\n',
      'one.yaml': 'optimization:\n  cache:\n    block_size: 32\n',
      'two.yaml': 'monitoring:\n  tracing:\n    enabled: true\n',
    });
    const loaded = loadConfig({ cwd: dir, env: { MUAI_CONFIG: 'one.yaml, two.yaml' } });
    expect(loaded.files).toEqual(['one.yaml', 'two.yaml']);
    expect(loaded.config.optimization.cache).toMatchObject({ enabled: false, block_size: 32 });
    expect(loaded.config.monitoring.tracing.enabled).toBe(true);
    expect(loaded.warnings).toEqual([]);
  });

  it('fails with CONFIG_NOT_FOUND for a named file that does not exist', () => {
    const dir = tempProject();
    expect(() => loadConfig({ cwd: dir, files: ['nope.yaml'], env: {} })).toThrow(/nope\.yaml does not exist/);
    try {
      loadConfig({ cwd: dir, env: { MUAI_CONFIG: 'missing.yaml' } });
      expect.unreachable();
    } catch (error) {
      expect(MuaiError.hasCode(error, 'CONFIG_NOT_FOUND')).toBe(true);
    }
  });

  it('lists every problem with file, line, key path, value and expectation', () => {
    const file = fixture('invalid/typos-and-types.yaml');
    const problems = problemsOf(() => loadConfig({ files: [file], env: {} }));
    const byPath = Object.fromEntries(problems.map((problem) => [problem.path, problem]));
    expect(Object.keys(byPath).sort()).toEqual([
      'monitoring.prometheus.port',
      'monitoring.tracing.sample_rate',
      'optimization.batcher.batch_timeout_ms',
      'optimization.batcher.max_batch_sze',
      'optimization.engine_preference.1',
      'optimization.vllm.gpu_memory_utilization',
    ]);
    for (const problem of problems) expect(problem.source).toBe(file);
    expect(byPath['optimization.batcher.max_batch_sze']).toMatchObject({ line: 5, value: 16 });
    expect(byPath['optimization.batcher.max_batch_sze']!.expected).toContain('did you mean "max_batch_size"');
    expect(byPath['optimization.engine_preference.1']).toMatchObject({ line: 3, value: 'tensorrt' });
    expect(byPath['optimization.engine_preference.1']!.expected).toMatch(/onnx.*vllm.*deepspeed.*pytorch/);
    expect(byPath['optimization.batcher.batch_timeout_ms']).toMatchObject({ line: 6, value: -5 });
    expect(byPath['optimization.vllm.gpu_memory_utilization']).toMatchObject({ line: 8, value: 1.5 });
    expect(byPath['monitoring.prometheus.port']).toMatchObject({ line: 11, value: 'ninety' });
    expect(byPath['monitoring.prometheus.port']!.expected).toBe('expected an integer');
    expect(byPath['monitoring.tracing.sample_rate']).toMatchObject({ line: 13, value: 2 });
    // Problems come in file order.
    expect(problems.map((problem) => problem.line)).toEqual([3, 5, 6, 8, 11, 13]);
  });

  it('names file and line of a YAML syntax error', () => {
    const file = fixture('invalid/syntax-error.yaml');
    const problems = problemsOf(() => loadConfig({ files: [file], env: {} }));
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]!.source).toBe(file);
    expect(problems[0]!.line).toBeGreaterThanOrEqual(4);
    expect(problems[0]!.expected).toMatch(/valid YAML/);
  });

  it('rejects duplicate keys and a top level that is not a mapping', () => {
    const dir = tempProject({ 'dup.yaml': 'optimization:\n  enabled: true\n  enabled: false\n', 'list.yaml': '- a\n- b\n' });
    expect(problemsOf(() => loadConfig({ cwd: dir, files: ['dup.yaml'], env: {} }))[0]).toMatchObject({ source: 'dup.yaml', line: 3 });
    expect(problemsOf(() => loadConfig({ cwd: dir, files: ['list.yaml'], env: {} }))[0]!.expected).toMatch(/mapping/);
  });

  it('suggests the intended key for an unknown one at any depth', () => {
    const problems = problemsOf(() => parseConfig({ optimisation: {}, monitoring: { prometheus: { prot: 1 } }, models: { m: { path: 'x', devise: 'cpu' } } }));
    const text = problems.map((problem) => `${problem.path}: ${problem.expected}`).join('\n');
    expect(text).toContain('optimisation: unknown key "optimisation"; did you mean "optimization"?');
    expect(text).toContain('monitoring.prometheus.prot: unknown key "prot"; did you mean "port"?');
    expect(text).toContain('models.m.devise: unknown key "devise"; did you mean "device"?');
  });

  it('reports a model without a path, an invalid regular expression and a bad alert target', () => {
    const problems = problemsOf(() =>
      parseConfig({
        models: { broken: { device: 'cpu' } },
        router: { rules: [{ workflow: 'chat', pattern: '(' }] },
        monitoring: { anomaly: { targets: [{ type: 'pager' }] } },
      }),
    );
    expect(problems.map((problem) => problem.path).sort()).toEqual(['models.broken.path', 'monitoring.anomaly.targets.0.type', 'router.rules.0.pattern']);
    expect(problems.find((problem) => problem.path === 'models.broken.path')!.expected).toMatch(/required/);
  });

  it('reports problems coming from variables with the variable as their source', () => {
    const problems = problemsOf(() => loadConfig({ files: [], env: { MUAI_OPT_BATCHER_MAX_BATCH_SIZE: 'lots', MUAI_MON_TRACING_SAMPLE_RATE: '7' } }));
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ source: 'env:MUAI_OPT_BATCHER_MAX_BATCH_SIZE', path: 'optimization.batcher.max_batch_size', value: 'lots' }),
        expect.objectContaining({ source: 'env:MUAI_MON_TRACING_SAMPLE_RATE', path: 'monitoring.tracing.sample_rate', value: 7 }),
      ]),
    );
  });

  it('MUAI_OPT_ENABLED=false and MUAI_MON_ENABLED=false switch whole areas off', () => {
    const dir = tempProject({
      'all-on.yaml':
        'optimization:\n  vllm: {enabled: true}\n  deepspeed: {enabled: true}\n  batcher: {enabled: true}\n  cache: {enabled: true}\n  tuner: {enabled: true}\nmonitoring:\n  prometheus: {enabled: true}\n  tracing: {enabled: true}\n  anomaly: {enabled: true}\n',
    });
    const on = loadConfig({ cwd: dir, files: ['all-on.yaml'], env: {} }).config;
    expect(on.optimization.batcher.enabled && on.monitoring.tracing.enabled).toBe(true);
    const off = loadConfig({ cwd: dir, files: ['all-on.yaml'], env: { MUAI_OPT_ENABLED: 'false', MUAI_MON_ENABLED: '0' } });
    for (const feature of ['vllm', 'deepspeed', 'batcher', 'cache', 'tuner'] as const) {
      expect(off.config.optimization[feature].enabled).toBe(false);
      expect(off.sources[`optimization.${feature}.enabled`]).toBe('env:MUAI_OPT_ENABLED');
    }
    for (const feature of ['prometheus', 'tracing', 'anomaly'] as const) {
      expect(off.config.monitoring[feature].enabled).toBe(false);
      expect(off.sources[`monitoring.${feature}.enabled`]).toBe('env:MUAI_MON_ENABLED');
    }
    // The embedded engine stays: it is the baseline, as PyTorch was in the seed.
    expect(off.config.optimization.onnx.enabled).toBe(true);
  });

  it('reports unknown MUAI_ variables as warnings, and as problems when strict', () => {
    const env = { MUAI_OPT_BATCHR_ENABLED: 'true', MUAI_MODEL: 'tiny', MUAI_CONFIG: '', MUAI_LOG_LEVEL: 'debug', MUAI_CUSTOM: 'x' };
    const loaded = loadConfig({ files: [], env, allowEnv: ['MUAI_CUSTOM'] });
    expect(loaded.warnings).toHaveLength(1);
    expect(loaded.warnings[0]).toMatchObject({ code: 'UNKNOWN_VARIABLE', variable: 'MUAI_OPT_BATCHR_ENABLED' });
    expect(loaded.warnings[0]!.message).toContain('did you mean MUAI_OPT_BATCHER_ENABLED?');
    const problems = problemsOf(() => loadConfig({ files: [], env, allowEnv: ['MUAI_CUSTOM'], strict: true }));
    expect(problems).toEqual([expect.objectContaining({ source: 'env:MUAI_OPT_BATCHR_ENABLED' })]);
  });

  it('loadOptimizationConfig hands warnings to onWarning and returns the optimization section', () => {
    const warnings: string[] = [];
    const optimization = loadOptimizationConfig(fixture('seed-optimization-minimal.yaml'), {
      env: { MUAI_OPT_VLLM_ENABLED: 'true', MUAI_OPT_NOPE: '1' },
      onWarning: (warning) => warnings.push(warning.variable),
    });
    expect(optimization.vllm.enabled).toBe(true);
    expect(optimization.engine_preference).toEqual(['onnx']);
    expect(warnings).toEqual(['MUAI_OPT_NOPE']);
  });
});

describe('config/optimization.example.yaml', () => {
  const example = join(repoRoot, 'config/optimization.example.yaml');

  it('writes every optimization and monitoring key, each with its default value', () => {
    const loaded = loadConfig({ files: [example], env: {} });
    const defaults = parseConfig({});
    expect(loaded.config.optimization).toEqual(defaults.optimization);
    expect(loaded.config.monitoring).toEqual(defaults.monitoring);
    const fromDefaults = Object.entries(loaded.sources)
      .filter(([path, source]) => source === 'default' && /^(optimization|monitoring)\./.test(path))
      .map(([path]) => path);
    expect(fromDefaults).toEqual([]);
  });

  it('config/system.yaml declares the tiny generated model on the onnx engine', () => {
    const { config } = loadConfig({ files: [join(repoRoot, 'config/system.yaml')], env: {} });
    expect(config.models['tiny']).toMatchObject({ path: 'models/generated/tiny', engine: 'onnx' });
  });
});
