/**
 * Environment variables onto configuration keys: `MUAI_OPT_*` onto `optimization.*`, `MUAI_MON_*` onto
 * `monitoring.*`, `MUAI_CLUSTER_*` onto `cluster.*`. The rest of a name is matched against the schema, so nested keys and keys that
 * contain underscores both resolve: `MUAI_OPT_BATCHER_MAX_BATCH_SIZE` is `optimization.batcher.max_batch_size`.
 * Values are coerced by the type of the key they land on.
 */
import type { ConfigProblem } from '@muai/core';
import type { z } from 'zod';
import { didYouMean } from './did-you-mean.js';
import { childSchema, describeKind, leafKind, objectKeys } from './internal/schema-walk.js';
import type { LeafKind } from './internal/schema-walk.js';
import { muaiConfigSchema } from './schema.js';

/** Prefix of a variable and the configuration section it maps onto. */
export const ENVIRONMENT_PREFIXES: Readonly<Record<string, 'optimization' | 'monitoring' | 'cluster'>> = Object.freeze({
  MUAI_OPT_: 'optimization',
  MUAI_MON_: 'monitoring',
  MUAI_CLUSTER_: 'cluster',
});

/**
 * MuAI's documented variables that are not configuration keys; they are never reported as unknown.
 * `MUAI_CONFIG` lists configuration files (comma separated); `MUAI_MODEL` picks the model of a CLI
 * run; `MUAI_LOG_LEVEL` sets the log level of tools that run before configuration is loaded;
 * `MUAI_MODELS_DIR` is where tools write generated test models; `MUAI_HOME` is MuAI's data folder.
 */
export const NON_CONFIG_VARIABLES: readonly string[] = Object.freeze([
  'MUAI_CONFIG',
  'MUAI_MODEL',
  'MUAI_LOG_LEVEL',
  'MUAI_MODELS_DIR',
  'MUAI_HOME',
]);

/** A non-fatal finding of the loader, such as an unknown `MUAI_` variable. */
export interface ConfigWarning {
  code: 'UNKNOWN_VARIABLE' | 'EMPTY_VARIABLE';
  /** The variable concerned. */
  variable: string;
  message: string;
}

/** One variable that maps onto a key. */
export interface EnvironmentVariableInfo {
  variable: string;
  /** Key path, e.g. `['optimization', 'batcher', 'max_batch_size']`. */
  path: readonly string[];
  /** What the value must look like. */
  expected: string;
}

/** The value of one variable, coerced, and where it lands. */
export interface EnvironmentOverride {
  variable: string;
  path: readonly string[];
  value: unknown;
}

export interface EnvironmentReading {
  overrides: EnvironmentOverride[];
  /** Values that cannot be coerced to their key's type. */
  problems: ConfigProblem[];
  warnings: ConfigWarning[];
}

type AnySchema = z.ZodType;

function sectionSchema(section: 'optimization' | 'monitoring' | 'cluster'): AnySchema {
  return muaiConfigSchema.shape[section] as unknown as AnySchema;
}

/** Key path (without the section) that a variable's tokens name, trying longer keys first. */
function resolveTokens(schema: AnySchema, tokens: readonly string[], start: number): string[] | undefined {
  const keys = objectKeys(schema);
  if (!keys) return undefined;
  for (let end = tokens.length; end > start; end--) {
    const key = tokens.slice(start, end).join('_');
    if (!keys.includes(key)) continue;
    if (end === tokens.length) return [key];
    const child = childSchema(schema, key);
    const rest = child ? resolveTokens(child, tokens, end) : undefined;
    if (rest) return [key, ...rest];
  }
  return undefined;
}

/** The key path a variable maps onto, or undefined when it names no key. */
export function resolveEnvironmentVariable(variable: string): string[] | undefined {
  for (const [prefix, section] of Object.entries(ENVIRONMENT_PREFIXES)) {
    if (!variable.startsWith(prefix)) continue;
    const rest = variable.slice(prefix.length).toLowerCase();
    if (rest === '') return undefined;
    const path = resolveTokens(sectionSchema(section), rest.split('_'), 0);
    return path ? [section, ...path] : undefined;
  }
  return undefined;
}

let variableList: readonly EnvironmentVariableInfo[] | undefined;

/** Every variable that sets a leaf key, in schema order. */
export function listEnvironmentVariables(): EnvironmentVariableInfo[] {
  variableList ??= Object.freeze(buildVariableList());
  return [...variableList];
}

function buildVariableList(): EnvironmentVariableInfo[] {
  const result: EnvironmentVariableInfo[] = [];
  const visit = (schema: AnySchema, prefix: string, path: string[]): void => {
    for (const key of objectKeys(schema) ?? []) {
      const child = childSchema(schema, key);
      if (!child) continue;
      const childPath = [...path, key];
      const variable = `${prefix}${key.toUpperCase()}`;
      const kind = leafKind(child);
      if (kind.kind === 'object') visit(child, `${variable}_`, childPath);
      else result.push({ variable, path: childPath, expected: describeKind(kind) });
    }
  };
  for (const [prefix, section] of Object.entries(ENVIRONMENT_PREFIXES)) visit(sectionSchema(section), prefix, [section]);
  return result;
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

type Coerced = { ok: true; value: unknown } | { ok: false };

function parseJson(text: string): Coerced {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** Converts a variable's text into a value of the key's type. */
export function coerceEnvironmentValue(text: string, kind: LeafKind): Coerced {
  const trimmed = text.trim();
  switch (kind.kind) {
    case 'boolean': {
      const word = trimmed.toLowerCase();
      if (TRUE_WORDS.has(word)) return { ok: true, value: true };
      if (FALSE_WORDS.has(word)) return { ok: true, value: false };
      return { ok: false };
    }
    case 'number': {
      const value = Number(trimmed);
      return trimmed !== '' && Number.isFinite(value) ? { ok: true, value } : { ok: false };
    }
    case 'string':
    case 'enum':
      return { ok: true, value: kind.kind === 'enum' ? trimmed : text };
    case 'array': {
      if (trimmed.startsWith('[')) return parseJson(trimmed);
      const items: unknown[] = [];
      for (const part of trimmed.split(',').map((item) => item.trim()).filter((item) => item !== '')) {
        const element = coerceEnvironmentValue(part, kind.element);
        if (!element.ok) return { ok: false };
        items.push(element.value);
      }
      return { ok: true, value: items };
    }
    default:
      return parseJson(trimmed);
  }
}

function schemaAtPath(path: readonly string[]): AnySchema | undefined {
  let schema: AnySchema | undefined = muaiConfigSchema as unknown as AnySchema;
  for (const key of path) schema = schema ? childSchema(schema, key) : undefined;
  return schema;
}

/**
 * Reads every `MUAI_` variable of `env`: those that map onto keys become overrides, values that
 * cannot be coerced become problems, unknown names become warnings (with a "did you mean").
 */
export function readEnvironment(env: NodeJS.ProcessEnv, allow: readonly string[] = []): EnvironmentReading {
  const reading: EnvironmentReading = { overrides: [], problems: [], warnings: [] };
  const known = listEnvironmentVariables().map((info) => info.variable);
  const allowed = new Set([...NON_CONFIG_VARIABLES, ...allow]);
  for (const variable of Object.keys(env).sort()) {
    if (!variable.startsWith('MUAI_') || allowed.has(variable)) continue;
    const text = env[variable];
    if (text === undefined) continue;
    const path = resolveEnvironmentVariable(variable);
    if (!path) {
      const suggestion = didYouMean(variable, [...known, ...allowed]);
      reading.warnings.push({
        code: 'UNKNOWN_VARIABLE',
        variable,
        message: `${variable} is not a MuAI variable and was ignored${suggestion ? `; did you mean ${suggestion}?` : '.'} See docs/configuration.md for the list.`,
      });
      continue;
    }
    if (text.trim() === '') {
      reading.warnings.push({
        code: 'EMPTY_VARIABLE',
        variable,
        message: `${variable} is set but empty, so it was ignored; unset it or give it a value.`,
      });
      continue;
    }
    const schema = schemaAtPath(path);
    const kind = schema ? leafKind(schema) : ({ kind: 'other' } as const);
    const coerced = coerceEnvironmentValue(text, kind);
    if (coerced.ok) {
      reading.overrides.push({ variable, path, value: coerced.value });
    } else {
      reading.problems.push({ source: `env:${variable}`, path: path.join('.'), value: text, expected: `expected ${describeKind(kind)}` });
    }
  }
  return reading;
}
