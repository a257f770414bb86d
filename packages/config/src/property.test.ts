import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigInvalidError } from '@muai/core';
import { describe, expect, it } from 'vitest';
import { settingFor, variables } from '../test/arbitraries.js';
import { tempProject } from '../test/helpers.js';
import { configToYaml } from './helpers.js';
import { loadConfig, parseConfig } from './load.js';

type Plain = Record<string, unknown>;

function setAt(root: Plain, path: readonly string[], value: unknown): void {
  let node = root;
  for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Plain;
  node[path[path.length - 1]!] = value;
}

function valueAt(root: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((node, key) => (node as Plain | undefined)?.[key], root);
}

const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,9}$/);
const model = fc.record(
  {
    path: fc.stringMatching(/^[a-z][a-z0-9/_-]{0,20}$/),
    engine: fc.constantFrom('onnx', 'vllm', 'deepspeed'),
    device: fc.constantFrom('auto', 'cpu', 'cuda', 'cuda:1', 'mps'),
    load_in_8bit: fc.boolean(),
    dtype: fc.constantFrom('auto', 'fp32', 'fp16', 'q8'),
    max_context_length: fc.integer({ min: 1, max: 1 << 20 }),
  },
  { requiredKeys: ['path'] },
);
const routerRule = fc.record(
  { workflow: name, keywords: fc.array(name, { maxLength: 3 }), pattern: fc.constantFrom('^what', 'why|how', '\\d+'), priority: fc.integer({ min: -5, max: 5 }) },
  { requiredKeys: ['workflow'] },
);
const anomalyRule = fc.record(
  {
    name,
    metric: fc.constantFrom('latency_p99_ms', 'error_rate', 'queue_depth'),
    detector: fc.constantFrom('threshold', 'zscore', 'ewma', 'cusum'),
    threshold: fc.double({ min: -1e6, max: 1e6, noNaN: true }),
    direction: fc.constantFrom('above', 'below', 'both'),
    for_s: fc.integer({ min: 0, max: 3600 }),
  },
  { requiredKeys: ['name', 'metric', 'threshold'] },
);
const alertTarget = fc.oneof(
  fc.constant({ type: 'log' }),
  fc.record({ type: fc.constant('webhook'), url: fc.constant('http://127.0.0.1:9093/hook'), format: fc.constantFrom('json', 'alertmanager') }),
  fc.record({ type: fc.constant('slack'), url: fc.constant('https://hooks.slack.com/services/T/B/x') }),
);

/** A valid configuration in file form: any subset of keys, each with a valid value. */
const validInput = fc
  .tuple(
    fc.uniqueArray(fc.constantFrom(...variables.filter((info) => !['rules', 'targets'].includes(info.path[2] ?? ''))), { selector: (info) => info.variable, maxLength: 25 }).chain((infos) => fc.tuple(...infos.map(settingFor))),
    fc.dictionary(name, model, { maxKeys: 3 }),
    fc.record({ default_workflow: name, confidence_threshold: fc.double({ min: 0, max: 1, noNaN: true }), rules: fc.array(routerRule, { maxLength: 2 }) }, { requiredKeys: [] }),
    fc.array(anomalyRule, { maxLength: 2 }),
    fc.array(alertTarget, { maxLength: 2 }),
  )
  .map(([settings, models, router, rules, targets]) => {
    const input: Plain = { models, router };
    for (const { info, value } of settings) setAt(input, info.path, value);
    setAt(input, ['monitoring', 'anomaly', 'rules'], rules);
    setAt(input, ['monitoring', 'anomaly', 'targets'], targets);
    return { input, settings };
  });

describe('property: valid configurations', () => {
  it('survive write-to-YAML and load unchanged', () => {
    const dir = tempProject();
    const file = join(dir, 'config.yaml');
    fc.assert(
      fc.property(validInput, ({ input }) => {
        const config = parseConfig(input);
        writeFileSync(file, configToYaml(config));
        const loaded = loadConfig({ files: [file], env: {} });
        expect(loaded.config).toEqual(config);
        expect(loaded.warnings).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });

  it('keep every value they were given (file form written by hand loads the same)', () => {
    const dir = tempProject();
    const file = join(dir, 'config.yaml');
    fc.assert(
      fc.property(validInput, ({ input, settings }) => {
        writeFileSync(file, stringify(input));
        const { config, sources } = loadConfig({ files: [file], env: {} });
        for (const { info, value } of settings) {
          const [area, feature, key] = info.path;
          // A master switch set to false turns the features below it off.
          const switchedOff = key === 'enabled' && valueAt(config, [area!, 'enabled']) === false && feature !== 'onnx';
          expect(valueAt(config, info.path)).toEqual(switchedOff ? false : value);
          expect(sources[info.path.join('.')]).toBe(file);
        }
      }),
      { numRuns: 100 },
    );
  });
});

/** A value of the wrong type or out of range for a key, by what the key expects. */
function invalidValue(expected: string, keyName: string): fc.Arbitrary<unknown> {
  if (expected.startsWith('a boolean')) return fc.constantFrom('maybe', 2, 'true', [true]);
  if (expected === 'an integer') return fc.constantFrom(-1, 1.5, 'ten', 2 ** 60, null);
  if (expected === 'a number') return keyName === 'load_factor' ? fc.constantFrom(0.5, -1, 'half', true) : fc.constantFrom(-0.5, 1.5, 'half', true);
  if (expected.startsWith('one of ')) return fc.constantFrom('definitely-not-an-option', 3, false);
  if (expected === 'a string') return fc.constantFrom(42, true, ['x'], { nested: 1 }, '');
  if (expected.startsWith('a list')) {
    return keyName === 'engine_preference' ? fc.constantFrom('onnx', [], ['tensorrt'], [1]) : fc.constantFrom('x', 5, { a: 1 }, [{ bogus: true }]);
  }
  return fc.constant(Symbol.for('unsupported'));
}

describe('property: no invalid value is accepted silently', () => {
  it('any wrong value at any key is reported with its file, line and key', () => {
    const dir = tempProject();
    const file = join(dir, 'config.yaml');
    const wrong = fc
      .constantFrom(...variables)
      .chain((info) => invalidValue(info.expected, info.path[info.path.length - 1]!).map((value) => ({ info, value })))
      .filter(({ value }) => typeof value !== 'symbol');
    fc.assert(
      fc.property(validInput, wrong, (generated, { info, value }) => {
        const input = structuredClone(generated.input);
        setAt(input, info.path, value);
        writeFileSync(file, stringify(input));
        let error: unknown;
        try {
          loadConfig({ files: [file], env: {} });
        } catch (caught) {
          error = caught;
        }
        expect(error, `${info.path.join('.')} = ${JSON.stringify(value)} was accepted`).toBeInstanceOf(ConfigInvalidError);
        const key = info.path.join('.');
        const problem = (error as ConfigInvalidError).problems.find((item) => item.path === key || item.path.startsWith(`${key}.`));
        expect(problem, (error as Error).message).toBeDefined();
        expect(problem!.source).toBe(file);
        expect(problem!.line).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });
});
