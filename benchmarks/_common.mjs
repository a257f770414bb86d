// What every benchmark script shares: command-line options, logging, statistics, and the
// generated models they run on. Files starting with `_` are not benchmarks (benchmarks/run.mjs).
import { execFileSync, fork, spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';

export const root = join(import.meta.dirname, '..');
export const args = process.argv.slice(2);
// node:util parseArgs, not strict: each benchmark reads its own options by name (`--name value`,
// `--name=value`, or a bare `--flag`), and run.mjs passes everything through.
const { tokens } = parseArgs({ args, strict: false, allowPositionals: true, tokens: true });
/** `--json`: print one JSON object as the last stdout line. */
export const json = flag('json');
export const cores = os.availableParallelism?.() ?? os.cpus().length;

/** True when `--name` was given. */
export function flag(name) {
  return tokens.some((token) => token.kind === 'option' && token.name === name);
}

/** The value of `--name value` or `--name=value`, as given, or `fallback`. */
export function option(name, fallback) {
  const index = tokens.findIndex((token) => token.kind === 'option' && token.name === name);
  if (index < 0) return fallback;
  const token = tokens[index];
  if (token.value !== undefined) return token.value;
  const next = tokens[index + 1];
  return next?.kind === 'positional' ? next.value : fallback;
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

/** The p-th percentile (0..100) of sorted values, nearest rank; NaN when empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** 95% bootstrap interval of the median (2000 resamples, fixed seed so reruns on the same data agree). */
export function bootstrapMedianCi(values, resamples = 2000) {
  if (values.length === 0) return [NaN, NaN];
  let seed = 0x9e3779b9;
  const random = () => ((seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
  const medians = [];
  for (let r = 0; r < resamples; r++) medians.push(median(Array.from(values, () => values[Math.floor(random() * values.length)])));
  medians.sort((a, b) => a - b);
  return [medians[Math.floor(0.025 * resamples)], medians[Math.floor(0.975 * resamples)]];
}

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

/**
 * Spawns the built `muai serve --port 0 -m modelDir` with `env` added (loopback, Prometheus's own
 * port off, warn-level logs) and resolves once /ready answers 200: `{ child, url, exited, logs }`.
 */
export async function startMuaiServe(modelDir, env = {}) {
  const child = spawn(process.execPath, [join(root, 'apps/cli/bin/muai.mjs'), 'serve', '--port', '0', '-m', modelDir], {
    cwd: root,
    env: { ...process.env, MUAI_MON_SERVER_PRELOAD_MODELS: 'default', MUAI_MON_PROMETHEUS_ENABLED: 'false', MUAI_MON_LOGGING_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let logs = '';
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise((resolve, reject) => {
    child.stderr.on('data', (data) => {
      logs += data.toString();
      const match = /serving on (http:\/\/\S+?) /.exec(logs);
      if (match) resolve(match[1]);
    });
    void exited.then((code) => reject(new Error(`muai serve exited with ${code}: ${logs}`)));
  });
  const deadline = Date.now() + 60_000;
  while ((await fetch(`${url}/ready`).then((response) => response.status, () => 0)) !== 200) {
    if (Date.now() > deadline) throw new Error(`muai serve never became ready: ${logs}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, url, exited, logs: () => logs };
}

/**
 * A contender in a child process of its own (`node --expose-gc script ...args`), spoken to over IPC:
 * `ready` resolves with the child's first message, `ask(message)` sends one command and waits for
 * its answer (`{ ok: true, ... }`, or throws with the child's error), `close()` sends `{ cmd: 'close' }`.
 * The child answers each message with exactly one `process.send`.
 */
export function forkContender(script, args, label, nodeFlags = []) {
  const proc = fork(script, args, { cwd: root, execArgv: ['--expose-gc', ...nodeFlags], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  let waiting;
  proc.on('message', (message) => {
    const resolve = waiting;
    waiting = undefined;
    resolve?.(message);
  });
  proc.on('exit', (code) => waiting?.({ ok: false, error: `${label} exited with ${code}` }));
  const next = () => new Promise((resolve) => (waiting = resolve));
  return {
    ready: next(),
    async ask(message) {
      const answer = next();
      proc.send(message);
      const result = await answer;
      if (!result.ok) throw new Error(`${label}: ${result.error}`);
      return result;
    },
    async close() {
      await this.ask({ cmd: 'close' }).catch(() => undefined);
    },
  };
}

/**
 * The child side of forkContender: answers `{ cmd: 'close' }` by closing and exiting, and every
 * other command (after a full GC, so one command's garbage is not charged to the next) with
 * `{ ok: true, ...await handle(message) }`, or `{ ok: false, error }` when it throws.
 */
export function serveContender({ handle, close, info }) {
  process.on('message', async (message) => {
    try {
      if (message.cmd === 'close') {
        await close();
        process.send({ ok: true }, () => process.exit(0));
        return;
      }
      gc();
      process.send({ ok: true, ...(await handle(message)) });
    } catch (error) {
      process.send({ ok: false, error: String(error?.stack ?? error) });
    }
  });
  process.send({ ready: true, ...(info !== undefined ? { info } : {}) });
}

/** `--node-flags="--a --b"`: Node/V8 flags a benchmark applies to every contender alike (space separated). */
export function nodeFlagsOption() {
  return String(option('node-flags', '')).split(' ').filter(Boolean);
}

/** The token ids of one greedy generation streamed from a MuAI engine, calling `onToken` as each arrives. */
export async function streamTokenIds(engine, model, prompt, maxTokens, onToken) {
  const ids = [];
  for await (const chunk of engine.stream({ model, prompt, maxTokens, temperature: 0 })) {
    if (chunk.tokenId === undefined) continue;
    onToken();
    ids.push(chunk.tokenId);
  }
  return ids;
}

/**
 * The shortest prefix of `words` that `encode` turns into at least `tokens` token ids (binary
 * search), as `{ text, ids }`: prompts of a chosen token length from passageWords().
 */
export function promptOfLength(encode, words, tokens) {
  let lo = 1;
  let hi = words.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (encode(words.slice(0, mid).join(' ')).length >= tokens) hi = mid;
    else lo = mid + 1;
  }
  const text = words.slice(0, lo).join(' ');
  return { text, ids: encode(text) };
}
