import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { createEngineTarget, createOpenAiTarget, randomDataset } from '@muai/bench';
import type { BenchPrompt, BenchTarget, GoodputSlo, SendOutcome } from '@muai/bench';
import { InvalidRequestError, MuaiError } from '@muai/core';
import { createOnnxEngine, type OnnxEngine } from '@muai/engines-onnx';
import { lineDiff, renderTuneReport, runBenchTrial, runSearch, searchResultJson, startPoint, validateSearch, writeSettingsToYaml } from '@muai/tuner';
import type { SearchConstraints, SearchPoint, SearchSpace, Trial, TrialMeasure } from '@muai/tuner';

interface TuneOptions {
  model?: string;
  baseUrl?: string;
  endpoint: string;
  apiKey?: string;
  servedModelName?: string;
  search: string;
  space?: string;
  objective: string;
  maxP99Latency?: string;
  maxTtft?: string;
  maxMemory?: string;
  budget?: string;
  numPrompts: string;
  stableRuns: string;
  stability: string;
  warmUpRuns: string;
  /** Quick: a reference run of the current point around each candidate (--no-reference turns it off). */
  reference: boolean;
  requestRate: string;
  inputLen: string;
  outputLen: string;
  seed: string;
  out: string;
  write?: string;
  progress: boolean;
}

/** Knobs `muai tune` can search, and where each applies. */
const ENGINE_KNOBS = new Set(['max_batch_size', 'batch_timeout_ms', 'threads', 'cache_max_memory_mb', 'max_concurrency']);
const ENDPOINT_KNOBS = new Set(['max_concurrency']);

/**
 * Where quick search starts (`startPoint`: the candidate nearest each): the settings `muai serve` runs
 * with when nothing is configured. Threads: the engine leaves intraOpNumThreads to ONNX Runtime,
 * which uses one per core. The load's max_concurrency: 16, or 2 × max_batch_size when that is
 * searched too (Model Analyzer's concurrency formula).
 */
const KNOB_DEFAULTS: Record<string, number> = { max_batch_size: 16, batch_timeout_ms: 50, threads: availableParallelism(), cache_max_memory_mb: 512, max_concurrency: 16 };

/** What the trial needs of @muai/batcher (loaded on demand, as the orchestrator does). */
interface TrialBatcher {
  submit(input: unknown, options?: { signal?: AbortSignal }): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * The embedded engine behind a @muai/batcher, as `muai serve` runs it with
 * `optimization.batcher.enabled`: each request waits up to `batch_timeout_ms` for companions, then
 * the batch goes to `engine.generateBatch`. Not streamed, so the first token arrives with the last.
 */
async function batchedTarget(engine: OnnxEngine, point: SearchPoint): Promise<BenchTarget & { close(): Promise<void> }> {
  const specifier = '@muai/batcher';
  const module = (await import(specifier)) as { createBatcher: (options: Record<string, unknown>) => TrialBatcher };
  const batcher = module.createBatcher({
    batchFn: (inputs: Parameters<OnnxEngine['generateBatch']>[0]) => engine.generateBatch(inputs),
    maxBatchSize: point['max_batch_size'] ?? KNOB_DEFAULTS['max_batch_size'],
    batchTimeoutMs: point['batch_timeout_ms'] ?? KNOB_DEFAULTS['batch_timeout_ms'],
    maxQueueSize: 1 << 16,
  });
  return {
    description: 'engine onnx behind @muai/batcher',
    model: 'default',
    preflight: async () => undefined,
    async send(prompt: BenchPrompt, signal: AbortSignal): Promise<SendOutcome> {
      try {
        const result = (await batcher.submit({ model: 'default', prompt: prompt.prompt, maxTokens: prompt.maxTokens, temperature: 0, signal }, { signal })) as { usage: { promptTokens: number; completionTokens: number } };
        const end = performance.now();
        return { status: 'ok', chunkTimes: [end], endTime: end, promptTokens: result.usage.promptTokens, outputTokens: result.usage.completionTokens };
      } catch (error) {
        return { status: signal.aborted ? 'cancelled' : 'error', chunkTimes: [], endTime: performance.now(), error: error instanceof Error ? error.message : String(error) };
      }
    },
    close: () => batcher.close(),
  };
}

/** `max_batch_size=1,2,4;threads=1,2` → a space, in the order given. */
export function parseSpace(text: string): SearchSpace {
  const space: Record<string, number[]> = {};
  for (const part of text.split(';').map((item) => item.trim()).filter((item) => item !== '')) {
    const [name, values] = part.split('=');
    if (name === undefined || values === undefined || name.trim() === '') throw new InvalidRequestError(`--space takes KNOB=V1,V2;KNOB=... (got "${part}").`);
    const parsed = values.split(',').map((value) => value.trim()).filter((value) => value !== '').map(Number);
    if (parsed.some((value) => !Number.isInteger(value) || value < 0)) throw new InvalidRequestError(`--space ${name.trim()}: values must be integers >= 0 (got "${values}").`);
    space[name.trim()] = [...new Set(parsed)];
  }
  return space;
}

/** Duration (`90s`, `10m`, `1h`) or a trial count (`20`). */
export function parseBudget(text: string | undefined): { trials?: number; timeMs?: number } {
  if (text === undefined) return {};
  const match = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text.trim());
  if (!match) throw new InvalidRequestError(`--budget takes a number of trials (20) or a time (90s, 10m, 1h) (got "${text}").`);
  const value = Number(match[1]);
  if (match[2] === undefined) {
    if (!Number.isInteger(value) || value < 1) throw new InvalidRequestError(`--budget in trials must be an integer >= 1 (got "${text}").`);
    return { trials: value };
  }
  return { timeMs: value * { s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 's' | 'm' | 'h'] };
}

function positive(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = value === 'inf' ? Number.POSITIVE_INFINITY : Number(value);
  if (value.trim() === '' || !(parsed > 0)) throw new InvalidRequestError(`--${name} must be a number > 0 (got "${value}").`);
  return parsed;
}

function nonNegativeInt(name: string, value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0) throw new InvalidRequestError(`--${name} must be an integer >= 0 (got "${value}").`);
  return parsed;
}

function positiveInt(name: string, value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidRequestError(`--${name} must be a positive integer (got "${value}").`);
  return parsed;
}

/**
 * Runs of the trial's own load on each new engine before its first trial. A new ONNX Runtime session
 * is slow on every input shape it has not met yet (measured on the small model: the first run of a
 * trial's prompts 8-20 % below the next, even after warm-up runs on other prompts), so the warm-up
 * uses the prompts and concurrency of the trial that follows; two runs bring it within the noise.
 */
const WARM_UP_RUNS = 2;

/** Embedded engines, one per (threads, cache) pair: those need a new session; batch size changes live. */
class EnginePool {
  private current: { key: string; engine: OnnxEngine; warmed: boolean } | undefined;
  constructor(private readonly modelDir: string) {}

  /** The engine for `point`; `warmUp` runs once on each new session (after its limits are set), before it is used. */
  async engineFor(point: SearchPoint, warmUp?: (engine: OnnxEngine) => Promise<void>): Promise<OnnxEngine> {
    const threads = point['threads'] ?? 0;
    const cache = point['cache_max_memory_mb'];
    const key = `${threads}/${cache ?? 'off'}`;
    if (this.current?.key !== key) {
      await this.current?.engine.close();
      const engine = createOnnxEngine({ intraOpNumThreads: threads, ...(cache !== undefined ? { kvCache: { enabled: true, maxMemoryMb: cache } } : {}) });
      await engine.load({ name: 'default', path: this.modelDir });
      this.current = { key, engine, warmed: false };
    }
    const engine = this.current.engine;
    if (point['max_batch_size'] !== undefined) engine.setLimits({ maxBatchSize: point['max_batch_size'] });
    if (warmUp !== undefined && !this.current.warmed) {
      this.current.warmed = true;
      await warmUp(engine);
    }
    return engine;
  }

  async close(): Promise<void> {
    await this.current?.engine.close();
    this.current = undefined;
  }
}

function pointText(point: SearchPoint): string {
  return Object.entries(point).map(([name, value]) => `${name}=${value}`).join(' ');
}

/** `muai tune`: search serving settings with @muai/bench's load; JSON and HTML results; optionally write them into a config file. */
export function registerTuneCommand(program: Command): void {
  program
    .command('tune')
    .description('search serving settings (batch size, ONNX Runtime threads, cache size, concurrency) under latency/memory constraints with @muai/bench load; JSON + HTML report; --write puts the choice into optimization.yaml')
    .option('--model <dir>', 'tune the embedded ONNX engine on this model folder')
    .option('--base-url <url>', 'tune the load against an OpenAI-compatible server (only max_concurrency can be searched there)')
    .option('--endpoint <path>', '/v1/completions or /v1/chat/completions', '/v1/completions')
    .option('--api-key <key>', 'sent as Authorization: Bearer (default: OPENAI_API_KEY)')
    .option('--served-model-name <name>', 'model id sent (default: the first of GET /v1/models)')
    .option('--search <mode>', 'brute (every point) or quick (hill climbing from the defaults, early stop)', 'quick')
    .option('--space <spec>', 'KNOB=V1,V2;...; knobs: max_batch_size, batch_timeout_ms (the engine behind @muai/batcher, not streamed), threads, cache_max_memory_mb, max_concurrency (default: max_batch_size=1,2,4,8,16,32;threads=1,2 with --model, max_concurrency=1,2,4,8,16,32 with --base-url)')
    .option('--objective <name>', 'throughput (output tokens/s), latency (p99) or goodput (requests/s within the constraints)', 'throughput')
    .option('--max-p99-latency <ms>', 'constraint: p99 end-to-end latency')
    .option('--max-ttft <ms>', 'constraint: p99 time to first token')
    .option('--max-memory <mb>', 'constraint: resident memory of the process serving (--model only)')
    .option('--budget <n|time>', 'stop after N trials or a time (90s, 10m, 1h)')
    .option('--num-prompts <n>', 'requests per run of a trial', '64')
    .option('--stable-runs <n>', 'a trial repeats its run until the last N agree within --stability (perf_analyzer\'s rule), at most 2N runs, and measures their mean; 1: a single run', '3')
    .option('--stability <percent>', 'most spread (max/min - 1) of the stable runs\' request throughputs (perf_analyzer uses 10; 5 because a warming engine drifts 5-8 % over three runs here)', '5')
    .option('--warm-up-runs <n>', 'unmeasured runs at the start of each trial (a warm engine is slow the first time it meets a new batch size)', '1')
    .option('--no-reference', 'quick: judge candidates against the current point\'s trial instead of a run of it just before and after each (which cancels a slow drift of the machine)')
    .option('--request-rate <rps>', 'arrival rate per trial (inf: as fast as the concurrency allows)', 'inf')
    .option('--input-len <tokens>', 'random prompt length', '32')
    .option('--output-len <tokens>', 'tokens generated per request', '16')
    .option('--seed <n>', 'dataset and arrival seed', '0')
    .option('--out <dir>', 'where results.json and report.html go', 'tune-results')
    .option('--write <file>', 'write the chosen settings into this optimization.yaml (diff shown first; comments and other keys kept)')
    .option('--no-progress', 'no progress output')
    .addHelpText(
      'after',
      `\nExamples:\n${[
        "muai tune --model models/generated/small --search quick --max-p99-latency 2000 --objective goodput",
        "muai tune --model models/generated/small --search brute --space 'max_batch_size=1,4,16;threads=1,2' --budget 10m",
        'muai tune --base-url http://127.0.0.1:8000 --max-ttft 500 --write config/optimization.yaml',
      ]
        .map((line) => `  $ ${line}`)
        .join('\n')}\n`,
    )
    .action(async (options: TuneOptions) => {
      await tune(options);
    });
}

async function tune(options: TuneOptions): Promise<void> {
  // Every check of the input comes first: nothing is loaded or sent before the search can start.
  if ((options.model === undefined) === (options.baseUrl === undefined)) throw new InvalidRequestError('Give exactly one of --model DIR (the embedded engine) or --base-url URL (a running server).');
  if (options.search !== 'brute' && options.search !== 'quick') throw new InvalidRequestError(`--search must be brute or quick (got "${options.search}").`);
  if (options.objective !== 'throughput' && options.objective !== 'latency' && options.objective !== 'goodput') throw new InvalidRequestError(`--objective must be throughput, latency or goodput (got "${options.objective}").`);
  const embedded = options.model !== undefined;
  const space = parseSpace(options.space ?? (embedded ? 'max_batch_size=1,2,4,8,16,32;threads=1,2' : 'max_concurrency=1,2,4,8,16,32'));
  const allowed = embedded ? ENGINE_KNOBS : ENDPOINT_KNOBS;
  for (const name of Object.keys(space)) {
    if (!allowed.has(name)) {
      throw new InvalidRequestError(
        embedded
          ? `--space: unknown knob "${name}" (known: ${[...ENGINE_KNOBS].join(', ')}).`
          : `--space: "${name}" is a setting of the server itself, which muai tune cannot change over HTTP; with --base-url only max_concurrency is searched. Tune the server's own settings with --model DIR.`,
      );
    }
  }
  const constraints: SearchConstraints = {};
  const maxP99 = positive('max-p99-latency', options.maxP99Latency);
  const maxTtft = positive('max-ttft', options.maxTtft);
  const maxMemory = positive('max-memory', options.maxMemory);
  if (maxP99 !== undefined) constraints.maxP99LatencyMs = maxP99;
  if (maxTtft !== undefined) constraints.maxTtftMs = maxTtft;
  if (maxMemory !== undefined) {
    if (!embedded) throw new InvalidRequestError('--max-memory needs --model: the memory of a remote server cannot be measured from here.');
    constraints.maxMemoryMb = maxMemory;
  }
  const budget = parseBudget(options.budget);
  const objective = options.objective;
  const start = startPoint(space, KNOB_DEFAULTS);
  validateSearch({ space, objective, constraints, budget, start });
  const numPrompts = positiveInt('num-prompts', options.numPrompts);
  const stableRuns = positiveInt('stable-runs', options.stableRuns);
  const stability = stableRuns > 1 ? { windows: stableRuns, tolerance: positive('stability', options.stability)! / 100 } : undefined;
  const warmUpRuns = nonNegativeInt('warm-up-runs', options.warmUpRuns);
  const requestRate = positive('request-rate', options.requestRate)!;
  const inputLen = positiveInt('input-len', options.inputLen);
  const outputLen = positiveInt('output-len', options.outputLen);
  const seed = Number(options.seed);
  if (options.write !== undefined && existsSync(options.write)) {
    // Parse it now, so that a broken file fails before the trials, not after.
    writeSettingsToYaml(readFileSync(options.write, 'utf8'), {}, options.write);
  }
  const goodput: GoodputSlo = { ...(maxP99 !== undefined ? { e2el: maxP99 } : {}), ...(maxTtft !== undefined ? { ttft: maxTtft } : {}) };

  const pool = embedded ? new EnginePool(resolve(options.model!)) : undefined;
  let remote: BenchTarget | undefined;
  try {
    let countTokens: ((text: string) => number) | undefined;
    if (pool) {
      const engine = await pool.engineFor(start);
      countTokens = (text) => engine.encodeRequest({ model: 'default', prompt: text }).length;
    } else {
      const apiKey = options.apiKey ?? process.env['OPENAI_API_KEY'];
      remote = createOpenAiTarget({
        baseUrl: options.baseUrl!,
        endpoint: options.endpoint as '/v1/completions',
        ...(apiKey ? { apiKey } : {}),
        ...(options.servedModelName ? { model: options.servedModelName } : {}),
        ignoreEos: true,
      });
      // An unreachable or wrong server fails here (BENCH_TARGET_UNREACHABLE / BENCH_TARGET_INVALID), before any trial.
      await remote.preflight();
    }
    const prompts = randomDataset({ numPrompts, inputLen, outputLen, seed, ...(countTokens ? { countTokens } : {}) });
    const tty = options.progress && process.stderr.isTTY === true;
    const gridSize = Object.values(space).reduce((product, values) => product * values.length, 1);
    const onTrial = (trial: Trial, planned: number): void => {
      if (!options.progress) return;
      const line = `trial ${trial.index}${options.search === 'brute' ? `/${planned}` : ` (of ≤ ${gridSize})`}${trial.reference ? ' reference' : ''} ${pointText(trial.point)}: ${trial.measure.requestThroughput.toFixed(2)} req/s, ${trial.measure.outputThroughput.toFixed(1)} tok/s, p99 ${trial.measure.p99LatencyMs.toFixed(0)} ms${trial.feasible ? '' : ` (${trial.violations.join('; ')})`}`;
      if (tty) {
        const width = 24;
        const filled = Math.min(width, Math.round((trial.index / Math.max(1, planned)) * width));
        process.stderr.write(`\r\x1b[2K[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${line}`);
      } else process.stderr.write(`muai tune: ${line}\n`);
    };
    /** One trial of `point` (runs until stable with `stable`, else one run). */
    const measurePoint = async (point: SearchPoint, stable: boolean): Promise<TrialMeasure> => {
      const warmUp = async (engine: OnnxEngine): Promise<void> => {
        if (options.progress && !tty) process.stderr.write(`muai tune: warming a new engine (${pointText(point)}): ${WARM_UP_RUNS} runs of the trial's load\n`);
        const target = createEngineTarget({ engine, model: 'default' });
        for (let run = 0; run < WARM_UP_RUNS; run++) {
          await runBenchTrial({ target, prompts, numPrompts, requestRate, seed, ...(point['max_concurrency'] !== undefined ? { maxConcurrency: point['max_concurrency'] } : {}) });
        }
      };
      const engine = pool ? await pool.engineFor(point, warmUp) : undefined;
      const batched = engine && point['batch_timeout_ms'] !== undefined ? await batchedTarget(engine, point) : undefined;
      const target = batched ?? (engine ? createEngineTarget({ engine, model: 'default' }) : remote!);
      const { measure } = await runBenchTrial({
        target,
        prompts,
        numPrompts,
        requestRate,
        seed,
        ...(point['max_concurrency'] !== undefined ? { maxConcurrency: point['max_concurrency'] } : {}),
        ...(Object.keys(goodput).length > 0 ? { goodput } : {}),
        ...(pool ? { memoryMb: () => process.memoryUsage().rss / 2 ** 20 } : {}),
        ...(stability && stable ? { stability } : {}),
        ...(stable && warmUpRuns > 0 ? { warmUpRuns } : {}),
      }).finally(() => batched?.close());
      return measure;
    };
    const result = await runSearch({
      space,
      mode: options.search,
      objective,
      constraints,
      budget,
      start,
      onTrial,
      evaluate: (point) => measurePoint(point, true),
      // Quick: one run of the current point after each new candidate, the baseline it is judged against.
      ...(options.reference ? { reference: (point: SearchPoint) => measurePoint(point, false) } : {}),
    });
    if (tty) process.stderr.write('\n');
    mkdirSync(options.out, { recursive: true });
    const json = { target: pool ? `engine onnx (${resolve(options.model!)})` : options.baseUrl, ...searchResultJson(result) };
    writeFileSync(join(options.out, 'results.json'), `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(join(options.out, 'report.html'), renderTuneReport(result, `muai tune: ${json.target}`));
    const best = result.best;
    const references = result.trials.filter((trial) => trial.reference).length;
    const trials = result.trials.length - references;
    process.stdout.write(
      `${trials} trials of ${result.gridSize}${references > 0 ? ` and ${references} reference runs` : ''} (${options.search}, stopped: ${result.stoppedBy}) in ${(result.durationMs / 1000).toFixed(1)} s\n` +
        (best
          ? `chosen: ${pointText(best.point)}: ${best.measure.requestThroughput.toFixed(2)} req/s, ${best.measure.outputThroughput.toFixed(1)} tok/s, p99 ${best.measure.p99LatencyMs.toFixed(0)} ms${best.measure.goodput !== null ? `, goodput ${best.measure.goodput.toFixed(2)} req/s` : ''}\n`
          : 'no trial met the constraints: relax them or widen the space\n') +
        `results: ${join(options.out, 'results.json')}, report: ${join(options.out, 'report.html')}\n`,
    );
    if (best === undefined) {
      process.exitCode = 1;
      return;
    }
    if (options.write !== undefined) {
      const before = existsSync(options.write) ? readFileSync(options.write, 'utf8') : '';
      const { text, skipped } = writeSettingsToYaml(before, best.point, options.write);
      const diff = lineDiff(before, text);
      process.stdout.write(diff === '' ? `${options.write}: already has these settings\n` : `--- ${options.write}\n+++ ${options.write} (tuned)\n${diff}\n`);
      if (skipped.length > 0) process.stdout.write(`not written (no config key; a property of the load): ${skipped.join(', ')}\n`);
      if (diff !== '') writeFileSync(options.write, text);
    }
  } catch (error) {
    if (MuaiError.isInstance(error)) throw error;
    throw new MuaiError('INTERNAL', `muai tune failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    await pool?.close();
  }
}
