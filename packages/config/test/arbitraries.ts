import fc from 'fast-check';
import { listEnvironmentVariables } from '../src/environment.js';
import type { EnvironmentVariableInfo } from '../src/environment.js';
import { resolveEngineName } from '../src/schema.js';

/** Every variable of optimization.* and monitoring.*, with its key path. */
export const variables = listEnvironmentVariables();

const word = fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/);
const url = fc.integer({ min: 1, max: 65535 }).map((port) => `http://127.0.0.1:${port}`);

/** A list as a variable's text; an empty list must be written as JSON (an empty variable is ignored). */
const listText = (items: readonly unknown[], separator: string): string => (items.length === 0 ? '[]' : items.join(separator));

/** Text for a variable and the value it must produce, valid for the key's constraints. */
export function validSetting(info: EnvironmentVariableInfo): fc.Arbitrary<{ text: string; value: unknown }> {
  const name = info.path[info.path.length - 1]!;
  const kindText = info.expected;
  if (kindText.startsWith('a boolean')) {
    return fc.constantFrom(['true', true], ['yes', true], ['1', true], ['false', false], ['no', false], ['0', false]).map(([text, value]) => ({ text: String(text), value }));
  }
  if (kindText === 'an integer') {
    const max = name === 'port' ? 65535 : 100000;
    return fc.integer({ min: 1, max }).map((value) => ({ text: String(value), value }));
  }
  if (kindText === 'a number') {
    if (name === 'load_factor') return fc.integer({ min: 100, max: 400 }).map((percent) => ({ text: String(percent / 100), value: percent / 100 }));
    return fc.integer({ min: 1, max: 100 }).map((percent) => ({ text: String(percent / 100), value: percent / 100 }));
  }
  if (kindText.startsWith('one of ')) {
    const values = kindText.slice('one of '.length).split(', ');
    return fc.constantFrom(...values).map((value) => ({ text: value, value }));
  }
  if (kindText === 'a string') {
    if (name === 'endpoint') return url.map((value) => ({ text: value, value }));
    if (name === 'url') return fc.integer({ min: 1, max: 65535 }).map((port) => ({ text: `redis://127.0.0.1:${port}`, value: `redis://127.0.0.1:${port}` }));
    if (name === 'path') return word.map((value) => ({ text: `/${value}`, value: `/${value}` }));
    return word.map((value) => ({ text: value, value }));
  }
  if (kindText.startsWith('a list')) {
    if (name === 'engine_preference') {
      return fc.array(fc.constantFrom('onnx', 'vllm', 'deepspeed', 'pytorch'), { minLength: 1, maxLength: 4 }).map((names) => ({
        text: names.join(','),
        value: [...new Set(names.map((engine) => resolveEngineName(engine)))],
      }));
    }
    if (name === 'parameters') {
      return fc.subarray(['max_batch_size', 'batch_timeout_ms', 'cache_max_memory_mb', 'max_concurrency']).map((items) => ({ text: JSON.stringify(items), value: items }));
    }
    if (name === 'preferred_batch_sizes') return fc.array(fc.integer({ min: 1, max: 512 }), { maxLength: 4 }).map((items) => ({ text: listText(items, ','), value: items }));
    if (name === 'endpoints') return fc.array(url, { maxLength: 3 }).map((items) => ({ text: listText(items, ','), value: items }));
    if (name === 'rules' || name === 'targets') return fc.constant({ text: '[]', value: [] });
    return fc.array(word, { minLength: 1, maxLength: 3 }).map((items) => ({ text: listText(items, ', '), value: items }));
  }
  throw new Error(`no generator for ${info.variable} (${kindText})`);
}

export const settingOf = new Map(variables.map((info) => [info.variable, validSetting(info).map((generated) => ({ info, ...generated }))]));
export const settingFor = (info: EnvironmentVariableInfo) => settingOf.get(info.variable)!;

