/**
 * Loading the whole configuration: defaults < files < environment < explicit overrides, validated
 * once, every problem reported together, then frozen, with the source of every value.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { ConfigInvalidError, MuaiError } from '@muai/core';
import type { ConfigProblem } from '@muai/core';
import type { z } from 'zod';
import { didYouMean } from './did-you-mean.js';
import { readEnvironment } from './environment.js';
import type { ConfigWarning } from './environment.js';
import { describeKind, leafKind, objectKeys, schemaAt } from './internal/schema-walk.js';
import type { LeafKind } from './internal/schema-walk.js';
import { parseYamlSource } from './internal/yaml-source.js';
import type { ParsedSource } from './internal/yaml-source.js';
import { muaiConfigSchema } from './schema.js';
import type { MuaiConfig, MuaiConfigInput, OptimizationConfig } from './schema.js';

/** Files looked for in the working directory when none are given. Missing ones are skipped. */
export const DEFAULT_CONFIG_FILES: readonly string[] = Object.freeze(['config/system.yaml', 'config/optimization.yaml']);

export interface LoadConfigOptions {
  /**
   * Configuration files, applied in order (later files win). Each must exist. When omitted, the
   * files listed in `MUAI_CONFIG` (comma separated) are read, or else `config/system.yaml` and
   * `config/optimization.yaml` under `cwd` when they exist. An empty array reads no file.
   */
  files?: readonly string[];
  /** Environment to read `MUAI_*` variables from. Default: `process.env`. Pass `{}` to ignore it. */
  env?: NodeJS.ProcessEnv;
  /** Values that win over everything else, in file form (e.g. from command-line flags). */
  overrides?: MuaiConfigInput | Record<string, unknown>;
  /** Directory relative file paths are resolved against. Default: `process.cwd()`. */
  cwd?: string;
  /** Treat warnings (unknown `MUAI_` variables) as problems. Default: false. */
  strict?: boolean;
  /** More `MUAI_` variable names that are not configuration keys and must not be reported. */
  allowEnv?: readonly string[];
}

/** Where a value came from: `default`, a file path, `env:MUAI_...`, or `override`. */
export type ValueSource = string;

export interface LoadedConfig {
  /** The effective configuration: complete, defaulted, deeply frozen. */
  readonly config: MuaiConfig;
  /** For every leaf key (dotted path, e.g. `monitoring.prometheus.port`), where its value came from. */
  readonly sources: Readonly<Record<string, ValueSource>>;
  /** Files that were read, in order. */
  readonly files: readonly string[];
  /** Non-fatal findings, such as unknown `MUAI_` variables. Report them to the user. */
  readonly warnings: readonly ConfigWarning[];
}

type Path = readonly (string | number)[];
type PlainObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const SEPARATOR = '\u0000';
const keyOf = (path: Path): string => path.map(String).join(SEPARATOR);

/** Records which source wrote each leaf of the merged input. */
class Provenance {
  readonly entries = new Map<string, ValueSource>();

  record(path: Path, value: unknown, source: ValueSource): void {
    const prefix = keyOf(path);
    for (const key of [...this.entries.keys()]) {
      if (key === prefix || key.startsWith(prefix + SEPARATOR)) this.entries.delete(key);
    }
    this.walk(path, value, source);
  }

  private walk(path: Path, value: unknown, source: ValueSource): void {
    if (isPlainObject(value) && Object.keys(value).length > 0) {
      for (const [key, child] of Object.entries(value)) this.walk([...path, key], child, source);
    } else {
      this.entries.set(keyOf(path), source);
    }
  }

  /** The source of a path: its own, else the last one written below it, else the nearest above it. */
  lookup(path: Path): ValueSource | undefined {
    const key = keyOf(path);
    const own = this.entries.get(key);
    if (own !== undefined) return own;
    let below: ValueSource | undefined;
    for (const [entry, source] of this.entries) if (entry.startsWith(key + SEPARATOR)) below = source;
    if (below !== undefined) return below;
    for (let length = path.length - 1; length >= 0; length--) {
      const above = this.entries.get(keyOf(path.slice(0, length)));
      if (above !== undefined) return above;
    }
    return undefined;
  }
}

function cloneValue(value: unknown): unknown {
  return value === undefined ? undefined : structuredClone(value);
}

/** Merges `source` into `target` (objects key by key, anything else replaced) and records provenance. */
function mergeInto(target: PlainObject, source: PlainObject, path: string[], origin: ValueSource, provenance: Provenance): void {
  for (const [key, value] of Object.entries(source)) {
    const childPath = [...path, key];
    const existing = target[key];
    if (isPlainObject(value) && isPlainObject(existing)) {
      mergeInto(existing, value, childPath, origin, provenance);
      if (Object.keys(value).length === 0) provenance.record(childPath, existing, origin);
    } else {
      target[key] = cloneValue(value);
      provenance.record(childPath, value, origin);
    }
  }
}

function isSectionPath(path: readonly string[]): boolean {
  const schema = schemaAt(muaiConfigSchema as unknown as z.ZodType, path);
  const kind = schema ? leafKind(schema).kind : undefined;
  return kind === 'object' || kind === 'record';
}

/** A section left empty in YAML (`monitoring:` with every key below commented out) is null: read it as {}. */
function emptySectionsAsObjects(value: PlainObject, path: string[] = []): PlainObject {
  const result: PlainObject = {};
  for (const [key, child] of Object.entries(value)) {
    const childPath = [...path, key];
    if (child === null && isSectionPath(childPath)) result[key] = {};
    else if (isPlainObject(child)) result[key] = emptySectionsAsObjects(child, childPath);
    else result[key] = child;
  }
  return result;
}

function setAt(target: PlainObject, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (!isPlainObject(next)) node[key] = {};
    node = node[key] as PlainObject;
  }
  const last = path[path.length - 1];
  if (last !== undefined) node[last] = value;
}

function valueAt(root: unknown, path: Path): unknown {
  let node = root;
  for (const key of path) {
    if (Array.isArray(node)) node = node[Number(key)];
    else if (isPlainObject(node)) node = node[String(key)];
    else return undefined;
  }
  return node;
}

function displayPath(file: string, cwd: string): string {
  if (!isAbsolute(file)) return file;
  const fromCwd = relative(cwd, file);
  return fromCwd !== '' && !fromCwd.startsWith('..') && !isAbsolute(fromCwd) ? fromCwd : file;
}

/** The files to read: given ones, or MUAI_CONFIG, or the default files that exist. */
function chooseFiles(options: LoadConfigOptions, env: NodeJS.ProcessEnv): { path: string; required: boolean }[] {
  if (options.files) return options.files.map((path) => ({ path, required: true }));
  const listed = env['MUAI_CONFIG']?.trim();
  if (listed) {
    return listed
      .split(',')
      .map((path) => path.trim())
      .filter((path) => path !== '')
      .map((path) => ({ path, required: true }));
  }
  return DEFAULT_CONFIG_FILES.map((path) => ({ path, required: false }));
}

interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  keys?: string[];
  expected?: string;
  values?: unknown[];
}

/** What a key expects, worded for a value written in a file. */
function fileKindText(kind: LeafKind): string {
  switch (kind.kind) {
    case 'boolean':
      return 'a boolean (true or false)';
    case 'array':
      return 'a list';
    case 'object':
    case 'record':
      return 'a mapping';
    default:
      return describeKind(kind);
  }
}

function expectedText(issue: Issue, value: unknown): string {
  switch (issue.code) {
    case 'invalid_type': {
      const schema = schemaAt(muaiConfigSchema as unknown as z.ZodType, issue.path.map(String));
      const kind = schema ? leafKind(schema) : undefined;
      const wanted = kind && kind.kind !== 'other' ? fileKindText(kind) : (issue.expected ?? 'another type');
      return value === undefined ? `is required (expected ${wanted})` : `expected ${wanted}`;
    }
    case 'invalid_value':
      return `expected one of ${(issue.values ?? []).map((item) => JSON.stringify(item)).join(', ')}`;
    default:
      return issue.message.replace(/^(Too small|Too big|Invalid input|Invalid string): /, '');
  }
}

/** Converts zod issues into problems with source file, line, path, value and expectation. */
function issuesToProblems(
  issues: readonly Issue[],
  raw: PlainObject,
  provenance: Provenance,
  parsedFiles: ReadonlyMap<string, ParsedSource>,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const locate = (path: Path): Pick<ConfigProblem, 'source' | 'line'> => {
    const source = provenance.lookup(path);
    const where: Pick<ConfigProblem, 'source' | 'line'> = {};
    if (source === undefined) return where;
    where.source = source;
    const line = parsedFiles.get(source)?.lineOf(path);
    if (line !== undefined) where.line = line;
    return where;
  };
  for (const issue of issues) {
    const path = issue.path.map((segment) => (typeof segment === 'number' ? segment : String(segment)));
    if (issue.code === 'unrecognized_keys') {
      const schema = schemaAt(muaiConfigSchema as unknown as z.ZodType, path);
      const known = (schema ? objectKeys(schema) : undefined) ?? [];
      for (const key of issue.keys ?? []) {
        const keyPath = [...path, key];
        const suggestion = didYouMean(key, known);
        problems.push({
          ...locate(keyPath),
          path: keyPath.join('.'),
          value: valueAt(raw, keyPath),
          expected: `unknown key "${key}"${suggestion ? `; did you mean "${suggestion}"?` : ''} (known keys: ${known.join(', ')})`,
        });
      }
      continue;
    }
    const value = valueAt(raw, path);
    const problem: ConfigProblem = { ...locate(path), path: path.join('.'), expected: expectedText(issue, value) };
    if (value !== undefined) problem.value = value;
    problems.push(problem);
  }
  return problems;
}

/** Orders problems by file (in load order), then line; environment and override problems come last. */
function sortProblems(problems: readonly ConfigProblem[], files: readonly string[]): ConfigProblem[] {
  const rank = (problem: ConfigProblem): number => {
    const index = problem.source === undefined ? -1 : files.indexOf(problem.source);
    return index === -1 ? files.length : index;
  };
  return [...problems].sort((a, b) => rank(a) - rank(b) || (a.line ?? 0) - (b.line ?? 0));
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Master switches and the features they turn off (the embedded engine and the server stay on). */
const AREA_FEATURES = {
  optimization: ['vllm', 'deepspeed', 'batcher', 'cache', 'tuner'],
  monitoring: ['prometheus', 'tracing', 'anomaly'],
} as const;

function collectSources(config: unknown, provenance: Provenance): Record<string, ValueSource> {
  const sources: Record<string, ValueSource> = {};
  const visit = (value: unknown, path: string[]): void => {
    if (isPlainObject(value) && Object.keys(value).length > 0) {
      for (const [key, child] of Object.entries(value)) if (child !== undefined) visit(child, [...path, key]);
      return;
    }
    let source: ValueSource | undefined;
    for (let length = path.length; length > 0 && source === undefined; length--) {
      source = provenance.entries.get(keyOf(path.slice(0, length)));
    }
    sources[path.join('.')] = source ?? 'default';
  };
  visit(config, []);
  return sources;
}

/**
 * Loads the whole configuration. Precedence: defaults < files (in order) < environment < overrides.
 * Throws `ConfigInvalidError` (code `CONFIG_INVALID`) listing every problem, or a `MuaiError` with
 * code `CONFIG_NOT_FOUND` when a named file does not exist.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const raw: PlainObject = {};
  const provenance = new Provenance();
  const parsedFiles = new Map<string, ParsedSource>();
  const problems: ConfigProblem[] = [];
  const files: string[] = [];

  for (const { path, required } of chooseFiles(options, env)) {
    const absolute = resolve(cwd, path);
    const name = displayPath(path, cwd);
    if (!existsSync(absolute)) {
      if (!required) continue;
      throw new MuaiError(
        'CONFIG_NOT_FOUND',
        `Configuration file ${name} does not exist (looked at ${absolute}). Check the path given with --config or MUAI_CONFIG.`,
        { details: { file: absolute } },
      );
    }
    let text: string;
    try {
      text = readFileSync(absolute, 'utf8');
    } catch (error) {
      problems.push({ source: name, path: '', expected: `a readable file (${error instanceof Error ? error.message : String(error)})` });
      continue;
    }
    files.push(name);
    const parsed = parseYamlSource(name, text);
    parsedFiles.set(name, parsed);
    problems.push(...parsed.problems);
    if (parsed.data === undefined) continue;
    if (!isPlainObject(parsed.data)) {
      problems.push({ source: name, line: 1, path: '', value: parsed.data, expected: 'a mapping of sections (models, router, optimization, monitoring)' });
      continue;
    }
    mergeInto(raw, emptySectionsAsObjects(parsed.data), [], name, provenance);
  }

  const reading = readEnvironment(env, options.allowEnv);
  problems.push(...reading.problems);
  for (const override of reading.overrides) {
    setAt(raw, override.path, cloneValue(override.value));
    provenance.record(override.path, override.value, `env:${override.variable}`);
  }
  if (options.strict) {
    for (const warning of reading.warnings) {
      problems.push({ source: `env:${warning.variable}`, path: '', expected: warning.message });
    }
  }

  if (options.overrides !== undefined) {
    if (!isPlainObject(options.overrides)) {
      problems.push({ source: 'override', path: '', value: options.overrides, expected: 'an object in file form' });
    } else {
      mergeInto(raw, options.overrides, [], 'override', provenance);
    }
  }

  const result = muaiConfigSchema.safeParse(raw);
  if (!result.success) problems.push(...issuesToProblems(result.error.issues as unknown as Issue[], raw, provenance, parsedFiles));
  if (problems.length > 0 || !result.success) throw new ConfigInvalidError(sortProblems(problems, files), { details: { files } });

  const config = result.data as PlainObject & { optimization: PlainObject; monitoring: PlainObject };
  const sources = collectSources(config, provenance);
  for (const area of ['optimization', 'monitoring'] as const) {
    const section = config[area];
    if (section['enabled'] !== false) continue;
    for (const feature of AREA_FEATURES[area]) {
      const settings = section[feature] as PlainObject;
      if (settings['enabled'] === true) {
        settings['enabled'] = false;
        sources[`${area}.${feature}.enabled`] = sources[`${area}.enabled`] ?? 'default';
      }
    }
  }

  return deepFreeze({
    config: config as unknown as MuaiConfig,
    sources,
    files,
    warnings: reading.warnings,
  });
}

export interface LoadOptimizationConfigOptions extends Omit<LoadConfigOptions, 'files'> {
  /** Receives warnings such as unknown `MUAI_` variables. Default: `process.emitWarning`. */
  onWarning?: (warning: ConfigWarning) => void;
}

/**
 * The seed's `load_optimization_config(path)`: the `optimization` section of the given file (or of
 * the default files when no path is given), with defaults and `MUAI_*` variables applied.
 */
export function loadOptimizationConfig(path?: string, options: LoadOptimizationConfigOptions = {}): OptimizationConfig {
  const { onWarning, ...rest } = options;
  const loaded = loadConfig(path === undefined ? rest : { ...rest, files: [path] });
  const report = onWarning ?? ((warning: ConfigWarning) => process.emitWarning(warning.message, { code: `MUAI_${warning.code}` }));
  for (const warning of loaded.warnings) report(warning);
  return loaded.config.optimization;
}

/**
 * Validates a configuration object in file form (no files, no environment) and returns the
 * effective configuration. Throws `ConfigInvalidError` listing every problem.
 */
export function parseConfig(input: MuaiConfigInput | Record<string, unknown>): MuaiConfig {
  return loadConfig({ files: [], env: {}, overrides: input }).config;
}
