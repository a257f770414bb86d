// What every benchmark script shares: command-line options, logging, statistics, and the
// generated models they run on. Files starting with `_` are not benchmarks (benchmarks/run.mjs).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

export const root = join(import.meta.dirname, '..');
export const args = process.argv.slice(2);
/** `--json`: print one JSON object as the last stdout line. */
export const json = args.includes('--json');
export const cores = os.availableParallelism?.() ?? os.cpus().length;

/** The value after `--name`, as given, or `fallback`. */
export function option(name, fallback) {
  const index = args.indexOf(`--${name}`);
  return index >= 0 && args[index + 1] !== undefined ? args[index + 1] : fallback;
}

/** The value after `--name` as a number, or `fallback`. */
export function numberOption(name, fallback) {
  const value = option(name, undefined);
  return value === undefined ? fallback : Number(value);
}

/** Progress goes to stderr, prefixed with the benchmark's name. */
export const logger = (name) => (...parts) => console.error(`[bench:${name}]`, ...parts);
export const gc = () => globalThis.gc?.();
export const round = (value, digits = 2) => Number(value.toFixed(digits));

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A plain English paragraph that prefix benchmarks repeat and rotate into long shared prompts. */
export const COMPUTING_PASSAGE =
  'The history of computing is a long story of people building machines that help them think. ' +
  'Early calculators used gears and levers, later machines used relays and vacuum tubes, and modern ' +
  'computers use billions of tiny transistors etched into silicon. Each step made machines faster, ' +
  'smaller and cheaper, and each step changed what people could do with them, from tabulating a ' +
  'census to landing on the moon, from sending letters across the world in an instant to teaching ' +
  'machines to read, listen and write. ';

/** COMPUTING_PASSAGE repeated `times` times, as words. */
export function passageWords(times) {
  return COMPUTING_PASSAGE.repeat(times).trim().split(/\s+/);
}

export const generatedModelsDir = join(root, 'models', 'generated');

/** The folder of a generated model (`tiny`, `small`, `bench`), generating it first when missing. */
export function ensureGeneratedModel(size, log = logger('models')) {
  const modelDir = join(generatedModelsDir, size);
  if (!existsSync(join(modelDir, 'config.json')) || !existsSync(join(modelDir, 'onnx', 'model.onnx'))) {
    log(`generating the ${size} model (tools/model-gen/generate.mjs --size ${size}) ...`);
    execFileSync(process.execPath, [join(root, 'tools/model-gen/generate.mjs'), '--size', size, '--if-missing'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return modelDir;
}
