import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { Command } from 'commander';
import {
  compareResults,
  computeResult,
  createEngineTarget,
  createOpenAiTarget,
  formatComparison,
  formatResult,
  machineFacts,
  parseGoodput,
  parseSweep,
  promptFileDataset,
  randomDataset,
  renderReport,
  requestsCsv,
  runBenchmark,
  sharedPrefixDataset,
  shareGptDataset,
  sweepPointOptions,
} from '@muai/bench';
import type { BenchPrompt, BenchResult, BenchTarget, CountTokens, ProgressEvent, RunOptions, Sweep } from '@muai/bench';
import { InvalidRequestError, MuaiError } from '@muai/core';
import type { Engine } from '@muai/core';
import { createOnnxEngine } from '@muai/engines-onnx';

interface BenchOptions {
  baseUrl?: string;
  endpoint?: string;
  apiKey?: string;
  servedModelName?: string;
  model?: string;
  chat?: boolean;
  tokenizer?: string;
  datasetName: string;
  datasetPath?: string;
  randomInputLen: string;
  randomOutputLen: string;
  randomRangeRatio: string;
  randomPrefixLen: string;
  prefixRepetitionNumPrefixes: string;
  prefixRepetitionSuffixesPerPrefix: string;
  prefixRepetitionPrefixLen: string;
  prefixRepetitionSuffixLen: string;
  outputLen?: string;
  numPrompts?: string;
  duration?: string;
  maxConcurrency?: string;
  requestRate: string;
  burstiness: string;
  rampUpStrategy?: string;
  rampUpStartRps?: string;
  rampUpEndRps?: string;
  sweep?: string;
  seed: string;
  goodput?: string[];
  percentiles?: string;
  metricPercentiles?: string;
  ignoreEos?: boolean;
  temperature: string;
  requestTimeout: string;
  json?: boolean;
  saveResults?: string;
  csv?: string;
  report?: string;
  progress?: boolean;
}

function number(name: string, value: string | undefined, check: (n: number) => boolean, expected: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = value === 'inf' ? Number.POSITIVE_INFINITY : Number(value);
  if (value.trim() === '' || Number.isNaN(parsed) || !check(parsed)) throw new InvalidRequestError(`--${name} must be ${expected} (got "${value}").`);
  return parsed;
}
const positiveInt = (name: string, value: string | undefined): number | undefined => number(name, value, (n) => Number.isInteger(n) && n > 0, 'a positive integer');
const nonNegativeInt = (name: string, value: string | undefined): number | undefined => number(name, value, (n) => Number.isInteger(n) && n >= 0, 'an integer >= 0');
const positive = (name: string, value: string | undefined): number | undefined => number(name, value, (n) => n > 0, 'a number > 0');

/** A tokenizer.json folder (Hugging Face layout) as a token counter. */
function folderTokenizer(dir: string): CountTokens {
  let tokenizer: Tokenizer;
  try {
    const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
    let config: Record<string, unknown> = {};
    try {
      config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    } catch {
      // tokenizer_config.json is optional.
    }
    tokenizer = new Tokenizer(json, config);
  } catch (error) {
    throw new MuaiError('MODEL_INVALID', `--tokenizer ${dir}: no usable tokenizer.json (${(error as Error).message}). Point it at a Hugging Face model folder.`, { cause: error });
  }
  return (text) => tokenizer.encode(text).ids.length;
}

function loadDataset(options: BenchOptions, numPrompts: number, seed: number, countTokens: CountTokens | undefined): BenchPrompt[] {
  const outputLen = positiveInt('output-len', options.outputLen);
  const counted = countTokens ? { countTokens } : {};
  const path = (): string => {
    if (!options.datasetPath) throw new InvalidRequestError(`--dataset-name ${options.datasetName} needs --dataset-path FILE.`);
    return resolve(options.datasetPath);
  };
  switch (options.datasetName) {
    case 'random':
      return randomDataset({
        numPrompts,
        inputLen: positiveInt('random-input-len', options.randomInputLen)!,
        outputLen: positiveInt('random-output-len', options.randomOutputLen)!,
        rangeRatio: number('random-range-ratio', options.randomRangeRatio, (n) => n >= 0 && n < 1, 'in [0, 1)')!,
        prefixLen: nonNegativeInt('random-prefix-len', options.randomPrefixLen)!,
        seed,
        ...counted,
      });
    case 'prefix-repetition':
    case 'prefix_repetition':
      return sharedPrefixDataset({
        numPrefixes: positiveInt('prefix-repetition-num-prefixes', options.prefixRepetitionNumPrefixes)!,
        suffixesPerPrefix: positiveInt('prefix-repetition-suffixes-per-prefix', options.prefixRepetitionSuffixesPerPrefix)!,
        prefixLen: positiveInt('prefix-repetition-prefix-len', options.prefixRepetitionPrefixLen)!,
        suffixLen: positiveInt('prefix-repetition-suffix-len', options.prefixRepetitionSuffixLen)!,
        outputLen: outputLen ?? 32,
        seed,
        ...counted,
      });
    case 'sharegpt':
      return shareGptDataset(path(), { numPrompts, seed, ...(outputLen ? { outputLen } : {}), ...counted });
    case 'prompts':
      return promptFileDataset(path(), { ...(outputLen ? { outputLen } : {}), ...counted });
    default:
      throw new InvalidRequestError(`--dataset-name must be random, prefix-repetition, sharegpt or prompts (got "${options.datasetName}").`);
  }
}

/** A progress bar on a terminal, plain lines otherwise, on stderr. */
function progressPrinter(enabled: boolean): { onProgress?: (event: ProgressEvent) => void; interval: number; end: () => void } {
  if (!enabled) return { interval: 0, end: () => undefined };
  const tty = process.stderr.isTTY === true;
  let drew = false;
  return {
    interval: tty ? 200 : 5000,
    onProgress: (event) => {
      const seconds = (event.elapsedMs / 1000).toFixed(1);
      const counts = `${event.finished}${event.total !== undefined ? `/${event.total}` : ''} done, ${event.sent - event.finished} in flight, ${event.failed} failed, ${seconds} s`;
      if (tty) {
        const width = 30;
        const filled = event.total ? Math.round((event.finished / event.total) * width) : 0;
        process.stderr.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${counts}   `);
        drew = true;
      } else {
        process.stderr.write(`muai bench: ${counts}\n`);
      }
    },
    end: () => {
      if (drew) process.stderr.write('\n');
    },
  };
}

function writeFile(file: string, text: string): void {
  mkdirSync(dirname(resolve(file)), { recursive: true });
  writeFileSync(file, text);
}

/** `muai bench`: load generator and report for an OpenAI-compatible URL or the embedded engine. */
export function registerBenchCommand(program: Command): void {
  const bench = program
    .command('bench')
    .description('benchmark an OpenAI-compatible server (--base-url) or the embedded engine (--model DIR): TTFT, TPOT, ITL, E2EL, throughput, goodput')
    .option('--base-url <url>', 'OpenAI-compatible server, e.g. http://127.0.0.1:8000 (muai serve, vLLM, ...)')
    .option('--endpoint <path>', '/v1/completions or /v1/chat/completions', '/v1/completions')
    .option('--api-key <key>', 'sent as Authorization: Bearer (default: OPENAI_API_KEY)')
    .option('--served-model-name <name>', 'model id sent (default: the first of GET /v1/models)')
    .option('-m, --model <dir>', 'benchmark the embedded ONNX engine on this model folder, in process (no server)')
    .option('--chat', 'embedded engine: send prompts as a user message (chat template applied)')
    .option('--tokenizer <dir>', 'tokenizer folder (tokenizer.json) for dataset lengths and output counts without usage (default: --model)')
    .option('--dataset-name <name>', 'random | prefix-repetition | sharegpt | prompts', 'random')
    .option('--dataset-path <file>', 'ShareGPT JSON/JSONL, or a prompt file (one per line)')
    .option('--random-input-len <n>', 'random: prompt tokens', '128')
    .option('--random-output-len <n>', 'random: max_tokens', '32')
    .option('--random-range-ratio <r>', 'random: lengths uniform in [L(1-r), L(1+r)]', '0')
    .option('--random-prefix-len <n>', 'random: tokens of one prefix shared by all prompts', '0')
    .option('--prefix-repetition-num-prefixes <k>', 'prefix-repetition: K prefixes', '4')
    .option('--prefix-repetition-suffixes-per-prefix <m>', 'prefix-repetition: M prompts per prefix', '8')
    .option('--prefix-repetition-prefix-len <n>', 'prefix-repetition: prefix tokens', '256')
    .option('--prefix-repetition-suffix-len <n>', 'prefix-repetition: suffix tokens', '32')
    .option('--output-len <n>', 'max_tokens for sharegpt (default: the recorded answer), prompts (default 32), prefix-repetition (32)')
    .option('--num-prompts <n>', 'requests to send (default 100, or unbounded with --duration)')
    .option('--duration <s>', 'stop sending after this many seconds')
    .option('--max-concurrency <n>', 'most requests in flight (closed loop when no --request-rate)')
    .option('--request-rate <r>', 'requests/s, Poisson (or gamma with --burstiness); inf sends all at once', 'inf')
    .option('--burstiness <b>', 'gamma shape of inter-arrival times: 1 Poisson, <1 burstier, >1 more regular', '1')
    .option('--ramp-up-strategy <s>', 'linear | exponential (with --ramp-up-start-rps and --ramp-up-end-rps)')
    .option('--ramp-up-start-rps <r>', 'ramp-up start rate')
    .option('--ramp-up-end-rps <r>', 'ramp-up end rate')
    .option('--sweep <spec>', 'one run per value: concurrency=1,2,4 or rates=1,2,inf')
    .option('--seed <n>', 'seed of datasets and arrivals', '0')
    .option('--goodput <slo...>', 'SLOs in ms for goodput: ttft:MS tpot:MS e2el:MS')
    .option('--percentiles <list>', 'extra percentiles besides median, p90, p99, e.g. 25,75,99.9')
    .option('--metric-percentiles <list>', "vLLM's name for --percentiles")
    .option('--ignore-eos', 'send ignore_eos (vLLM) so outputs reach max_tokens')
    .option('--temperature <t>', 'sampling temperature sent', '0')
    .option('--request-timeout <s>', 'a request with no data for this long fails', '300')
    .option('--json', 'print the result as one JSON line (vllm bench serve names), last on stdout')
    .option('--save-results <file>', 'write the result with per-request data (JSON; input of muai bench compare)')
    .option('--csv <file>', 'write per-request rows (CSV)')
    .option('--report <file>', 'write a self-contained HTML report with charts')
    .option('--no-progress', 'no progress output on stderr')
    .action(async (_options: BenchOptions, command: Command) => {
      // The root command declares --model and --json too and takes them first: read this
      // command's options merged with its parents'.
      await runBenchCommand(command.optsWithGlobals<BenchOptions>());
    });
  bench.addHelpText('after', helpExamples(BENCH_EXAMPLES));
  const compare = bench
    .command('compare')
    .description('compare two results saved with --save-results: per-metric differences with bootstrap intervals and a verdict')
    .argument('<a>', 'baseline result (JSON)')
    .argument('<b>', 'candidate result (JSON)')
    .option('--json', 'print the comparison as one JSON line')
    .action((a: string, b: string, _options: { json?: boolean }, command: Command) => {
      const options = command.optsWithGlobals<{ json?: boolean }>();
      const read = (file: string): BenchResult => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(readFileSync(file, 'utf8'));
        } catch (error) {
          throw new InvalidRequestError(`${file} is not a saved muai bench result (${(error as Error).message}). Write one with --save-results FILE.json.`, { cause: error });
        }
        if (typeof parsed === 'object' && parsed !== null && 'results' in parsed) {
          throw new InvalidRequestError(`${file} holds a sweep; muai bench compare compares two single runs (save each with --save-results).`);
        }
        if (typeof parsed !== 'object' || parsed === null || !('completed' in parsed)) {
          throw new InvalidRequestError(`${file} is not a saved muai bench result (no "completed"). Write one with --save-results FILE.json.`);
        }
        return parsed as BenchResult;
      };
      const comparison = compareResults(read(a), read(b));
      process.stdout.write(`${formatComparison(comparison)}\n`);
      if (options.json) process.stdout.write(`${JSON.stringify(comparison)}\n`);
    });
  compare.addHelpText('after', helpExamples(['muai bench compare baseline.json candidate.json', 'muai bench compare a.json b.json --json | tail -1 | jq .summary']));
}

const BENCH_EXAMPLES = [
  'muai bench --base-url http://127.0.0.1:8000 --num-prompts 200 --max-concurrency 16 --report report.html',
  'muai bench --base-url http://127.0.0.1:8000 --endpoint /v1/chat/completions --request-rate 10 --burstiness 0.5 --goodput ttft:500 tpot:50',
  'muai bench --model ./models/my-llama --sweep concurrency=1,2,4,8 --json   # embedded engine, no server',
  'muai bench --base-url http://127.0.0.1:8000 --dataset-name sharegpt --dataset-path sharegpt.json --save-results a.json',
];

/** The "Examples:" section every command's help ends with (as ./examples.ts formats it). */
function helpExamples(lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`;
}

async function runBenchCommand(options: BenchOptions): Promise<void> {
  if ((options.baseUrl === undefined) === (options.model === undefined)) {
    throw new InvalidRequestError('muai bench needs exactly one target: --base-url URL (a server) or --model DIR (the embedded engine).');
  }
  const seed = nonNegativeInt('seed', options.seed)!;
  const duration = positive('duration', options.duration);
  const numPrompts = positiveInt('num-prompts', options.numPrompts) ?? (duration !== undefined ? undefined : 100);
  const maxConcurrency = positiveInt('max-concurrency', options.maxConcurrency);
  const requestRate = positive('request-rate', options.requestRate)!;
  const burstiness = positive('burstiness', options.burstiness)!;
  const percentiles = (options.percentiles ?? options.metricPercentiles)?.split(',').map((p) => number('percentiles', p, (n) => n > 0 && n < 100, 'percentiles in (0, 100)')!) ?? [];
  const goodput = parseGoodput(options.goodput ?? []);
  const sweep: Sweep | undefined = options.sweep ? parseSweep(options.sweep) : undefined;
  if (options.rampUpStrategy !== undefined && options.rampUpStrategy !== 'linear' && options.rampUpStrategy !== 'exponential') {
    throw new InvalidRequestError(`--ramp-up-strategy must be linear or exponential (got "${options.rampUpStrategy}").`);
  }

  let engine: Engine | undefined;
  let target: BenchTarget;
  let countTokens: CountTokens | undefined = options.tokenizer ? folderTokenizer(resolve(options.tokenizer)) : undefined;
  if (options.model !== undefined) {
    const onnx = createOnnxEngine();
    engine = onnx;
    await onnx.load({ name: 'default', path: resolve(options.model) });
    countTokens ??= (text) => onnx.encodeRequest({ model: 'default', prompt: text }).length;
    target = createEngineTarget({ engine: onnx, model: 'default', chat: options.chat === true, temperature: Number(options.temperature) });
  } else {
    target = createOpenAiTarget({
      baseUrl: options.baseUrl!,
      endpoint: options.endpoint as '/v1/completions',
      ...(options.apiKey ?? process.env['OPENAI_API_KEY'] ? { apiKey: options.apiKey ?? process.env['OPENAI_API_KEY']! } : {}),
      ...(options.servedModelName ? { model: options.servedModelName } : {}),
      ignoreEos: options.ignoreEos === true,
      temperature: Number(options.temperature),
      requestTimeoutMs: positive('request-timeout', options.requestTimeout)! * 1000,
    });
  }
  const controller = new AbortController();
  const onSigint = (): void => {
    process.stderr.write('\nmuai bench: interrupted; cancelling in-flight requests and writing what was measured (Ctrl-C again to quit now)\n');
    controller.abort();
    process.removeListener('SIGINT', onSigint);
  };
  process.on('SIGINT', onSigint);
  try {
    // Dataset first (an invalid file fails here), then the preflight: both before any load.
    const prompts = loadDataset(options, numPrompts ?? 1000, seed, countTokens);
    await target.preflight(controller.signal);
    const configuration: Record<string, unknown> = {
      target: target.description,
      model_id: target.model,
      endpoint: options.model !== undefined ? 'engine' : options.endpoint,
      dataset_name: options.datasetName,
      ...(options.datasetPath ? { dataset_path: options.datasetPath } : {}),
      tokenizer: options.tokenizer ?? options.model ?? null,
      num_prompts: numPrompts ?? null,
      duration_s: duration ?? null,
      request_rate: options.rampUpStrategy ? 'ramp-up' : requestRate === Number.POSITIVE_INFINITY ? 'inf' : requestRate,
      burstiness,
      max_concurrency: maxConcurrency ?? null,
      ...(options.rampUpStrategy ? { ramp_up_strategy: options.rampUpStrategy, ramp_up_start_rps: Number(options.rampUpStartRps), ramp_up_end_rps: Number(options.rampUpEndRps) } : {}),
      seed,
      ...(options.datasetName === 'random'
        ? { random_input_len: Number(options.randomInputLen), random_output_len: Number(options.randomOutputLen), random_range_ratio: Number(options.randomRangeRatio), random_prefix_len: Number(options.randomPrefixLen) }
        : {}),
      goodput,
    };
    const progress = progressPrinter(options.progress !== false);
    const base: RunOptions = {
      target,
      prompts,
      ...(numPrompts !== undefined ? { numPrompts } : {}),
      ...(duration !== undefined ? { durationSec: duration } : {}),
      ...(maxConcurrency !== undefined ? { maxConcurrency } : {}),
      requestRate,
      burstiness,
      ...(options.rampUpStrategy ? { rampUpStrategy: options.rampUpStrategy as 'linear', rampUpStartRps: positive('ramp-up-start-rps', options.rampUpStartRps)!, rampUpEndRps: positive('ramp-up-end-rps', options.rampUpEndRps)! } : {}),
      seed,
      signal: controller.signal,
      ...(countTokens ? { countTokens } : {}),
      ...(progress.onProgress ? { onProgress: progress.onProgress, progressIntervalMs: progress.interval } : {}),
    };
    const machine = machineFacts();
    const points: Array<{ label: string; value?: number; result: BenchResult }> = [];
    const values = sweep ? sweep.values : [undefined];
    for (const value of values) {
      if (controller.signal.aborted) break;
      const runOptions = sweep && value !== undefined ? sweepPointOptions(base, sweep, value) : base;
      const pointConfig = sweep && value !== undefined ? { ...configuration, ...(sweep.parameter === 'concurrency' ? { max_concurrency: value } : { request_rate: value === Number.POSITIVE_INFINITY ? 'inf' : value }) } : configuration;
      const label = sweep && value !== undefined ? `${sweep.parameter} ${value}` : 'result';
      if (sweep) process.stderr.write(`muai bench: ${label}\n`);
      const run = await runBenchmark(runOptions);
      progress.end();
      const result = computeResult(run, { percentiles, goodput, configuration: pointConfig, machine, includeRequests: true });
      points.push({ label, ...(value !== undefined ? { value } : {}), result });
      process.stdout.write(`${sweep ? `${label}\n` : ''}${formatResult(result)}\n`);
    }
    const withoutRequests = (result: BenchResult): BenchResult => {
      const { requests: _requests, ...rest } = result;
      return rest as BenchResult;
    };
    const single = points.length === 1 && !sweep;
    // JSON has no Infinity: a rate of inf is written as "inf", as --request-rate takes it.
    const sweepJson = sweep ? { parameter: sweep.parameter, values: sweep.values.map((value) => (value === Number.POSITIVE_INFINITY ? 'inf' : value)) } : undefined;
    if (options.saveResults) {
      const saved = single ? points[0]!.result : { sweep: sweepJson, results: points.map((point) => point.result) };
      writeFile(options.saveResults, `${JSON.stringify(saved)}\n`);
    }
    if (options.csv) {
      const rows = points.map((point, i) => {
        const csv = requestsCsv(point.result.requests ?? []);
        if (!sweep) return csv;
        // Sweeps: a leading `point` column; the header once.
        const lines = csv.trimEnd().split('\n');
        return lines.map((line, k) => (k === 0 ? (i === 0 ? `point,${line}` : undefined) : `${point.value},${line}`)).filter((line) => line !== undefined).join('\n') + '\n';
      });
      writeFile(options.csv, rows.join(''));
    }
    if (options.report) {
      writeFile(
        options.report,
        renderReport(
          points.map((point) => point.result),
          { title: `muai bench: ${target.description}`, labels: points.map((point) => point.label), ...(sweep ? { sweepParameter: sweep.parameter } : {}) },
        ),
      );
    }
    if (options.json) {
      const line = single ? withoutRequests(points[0]!.result) : { sweep: sweepJson, results: points.map((point) => withoutRequests(point.result)) };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
    await target.close();
    await engine?.close();
  }
}
