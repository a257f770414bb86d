import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../program.js';
import { parseBudget, parseSpace } from './tune.js';

const repoRoot = resolve(import.meta.dirname, '../../../..');
const tinyModel = join(repoRoot, 'models/generated/tiny');
let dir: string;
let stdout: string;
let stderr: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'muai-tune-'));
  stdout = '';
  stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  process.exitCode = undefined;
});
afterEach(() => {
  vi.restoreAllMocks();
  process.exitCode = undefined;
});

const tune = (...args: string[]): Promise<number> => main(['node', 'muai', 'tune', '--out', join(dir, 'out'), '--no-progress', ...args]);

describe('muai tune: bad input fails with a code before any trial', () => {
  it.each([
    [['--model', tinyModel, '--space', ''], /INVALID_REQUEST: Cannot start the search: the search space is empty/],
    [['--model', tinyModel, '--max-ttft', '500', '--max-p99-latency', '100'], /INVALID_REQUEST: .*--max-ttft \(500 ms\) is above --max-p99-latency \(100 ms\)/],
    [['--model', tinyModel, '--objective', 'goodput'], /INVALID_REQUEST: .*objective goodput counts requests within an SLO/],
    [['--model', tinyModel, '--space', 'max_batch_size=4;bogus=1'], /INVALID_REQUEST: --space: unknown knob "bogus"/],
    [['--base-url', 'http://127.0.0.1:9', '--space', 'threads=1,2'], /INVALID_REQUEST: --space: "threads" is a setting of the server itself/],
    [['--base-url', 'http://127.0.0.1:9', '--max-memory', '100'], /INVALID_REQUEST: --max-memory needs --model/],
    [['--model', tinyModel, '--budget', '3x'], /INVALID_REQUEST: --budget takes/],
    [['--model', tinyModel, '--warm-up-runs', 'one'], /INVALID_REQUEST: --warm-up-runs must be an integer >= 0/],
    [[], /Give exactly one of --model DIR/],
  ])('%j', async (args, message) => {
    expect(await tune(...args)).toBe(1);
    expect(stderr).toMatch(message);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('an unreachable endpoint: BENCH_TARGET_UNREACHABLE from the preflight, no trial', async () => {
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as { port: number }).port;
    await new Promise((done) => server.close(done));
    expect(await tune('--base-url', `http://127.0.0.1:${port}`)).toBe(1);
    expect(stderr).toMatch(/BENCH_TARGET_UNREACHABLE/);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('parses spaces and budgets', () => {
    expect(parseSpace('max_batch_size=1,2,2;threads=1')).toEqual({ max_batch_size: [1, 2], threads: [1] });
    expect(() => parseSpace('threads=a')).toThrow(/integers/);
    expect(parseBudget('20')).toEqual({ trials: 20 });
    expect(parseBudget('1.5m')).toEqual({ timeMs: 90_000 });
  });
});

describe('muai tune on the embedded engine (generated tiny model)', () => {
  it('brute: every trial, the Pareto front and the chosen point in JSON and a self-contained HTML; --write keeps comments and shows a diff', async () => {
    const yamlFile = join(dir, 'optimization.yaml');
    writeFileSync(yamlFile, '# tuned by hand\noptimization:\n  batcher:\n    enabled: true # on\n    max_batch_size: 8\nmonitoring:\n  enabled: true\n');
    const code = await tune('--model', tinyModel, '--search', 'brute', '--space', 'threads=1;max_batch_size=1,4,16;max_concurrency=4,16', '--num-prompts', '12', '--output-len', '8', '--max-p99-latency', '60000', '--objective', 'goodput', '--write', yamlFile);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const results = JSON.parse(readFileSync(join(dir, 'out/results.json'), 'utf8')) as {
      trials: Array<{ index: number; point: Record<string, number>; measure: { requestThroughput: number; goodput: number } }>;
      pareto: number[];
      chosen: { index: number; point: Record<string, number> };
      grid_size: number;
    };
    expect(results.grid_size).toBe(6);
    expect(results.trials).toHaveLength(6);
    expect(results.trials.every((trial) => trial.measure.requestThroughput > 0)).toBe(true);
    expect(results.pareto.length).toBeGreaterThan(0);
    const best = Math.max(...results.trials.map((trial) => trial.measure.goodput));
    expect(results.trials.find((trial) => trial.index === results.chosen.index)!.measure.goodput).toBe(best);
    const html = readFileSync(join(dir, 'out/report.html'), 'utf8');
    expect(html).not.toMatch(/<script|<link/);
    expect(html.match(/<tr class=/g)).toHaveLength(6);
    const written = readFileSync(yamlFile, 'utf8');
    expect(written).toContain('# tuned by hand');
    expect(written).toContain('enabled: true # on');
    expect(written).toContain(`max_batch_size: ${results.chosen.point['max_batch_size']}`);
    expect(written).toMatch(/onnx:\n {4}threads: 1/);
    expect(stdout).toContain('-     max_batch_size: 8');
    expect(stdout).toContain('not written (no config key; a property of the load): max_concurrency');
  }, 120_000);

  it('warms each new engine with the trial load before its first trial, and says so on the progress output', async () => {
    const code = await main(['node', 'muai', 'tune', '--out', join(dir, 'out'), '--model', tinyModel, '--search', 'brute', '--space', 'threads=1,2;max_batch_size=4', '--num-prompts', '6', '--output-len', '4']);
    expect(code).toBe(0);
    const lines = stderr.split('\n').filter((line) => line.startsWith('muai tune:'));
    // One session per thread count: warm-up, then its trial.
    expect(lines.map((line) => (line.includes('warming a new engine') ? 'warm' : line.includes('trial ') ? 'trial' : 'other'))).toEqual(['warm', 'trial', 'warm', 'trial']);
    expect(lines[0]).toContain('threads=1');
    expect(lines[2]).toContain('threads=2');
  }, 120_000);

  it('quick starts at serve\'s batch size with the load at 2 × batch, runs a reference of the current point after each new candidate, never chooses one; --no-reference runs none', async () => {
    const args = ['--model', tinyModel, '--search', 'quick', '--space', 'max_batch_size=2,4,8;max_concurrency=2,4,8,16', '--num-prompts', '6', '--output-len', '4', '--stable-runs', '1'];
    expect(await main(['node', 'muai', 'tune', '--out', join(dir, 'out'), ...args])).toBe(0);
    type Results = { trials: Array<{ index: number; point: Record<string, number>; reference?: boolean }>; chosen: { index: number }; pareto: number[] };
    const results = JSON.parse(readFileSync(join(dir, 'out/results.json'), 'utf8')) as Results;
    // The start: batch 8 (the candidate nearest serve's 16) and 16 in flight; then a reference run of it.
    expect(results.trials[0]!.point).toEqual({ max_batch_size: 8, max_concurrency: 16 });
    expect(results.trials[1]).toMatchObject({ point: results.trials[0]!.point, reference: true });
    const references = results.trials.filter((trial) => trial.reference);
    const candidates = results.trials.filter((trial) => !trial.reference);
    // One per new candidate, plus the start's second measurement.
    expect(references).toHaveLength(candidates.length);
    expect(references.map((trial) => trial.index)).not.toContain(results.chosen.index);
    expect(results.pareto.every((index) => !references.some((trial) => trial.index === index))).toBe(true);
    expect(stdout).toContain(`${candidates.length} trials of 12 and ${references.length} reference runs (quick`);
    expect(stderr.split('\n').filter((line) => / reference max_batch_size=/.test(line))).toHaveLength(references.length);

    stdout = '';
    expect(await tune(...args, '--no-reference')).toBe(0);
    const plain = JSON.parse(readFileSync(join(dir, 'out/results.json'), 'utf8')) as Results;
    expect(plain.trials.filter((trial) => trial.reference)).toEqual([]);
    expect(stdout).toMatch(/^\d+ trials of 12 \(quick/);
  }, 120_000);

  it('batch_timeout_ms runs the engine behind @muai/batcher; the choice goes to optimization.batcher', async () => {
    const yamlFile = join(dir, 'optimization.yaml');
    const code = await tune('--model', tinyModel, '--search', 'brute', '--space', 'max_batch_size=4;batch_timeout_ms=0,20', '--num-prompts', '8', '--output-len', '4', '--write', yamlFile);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const results = JSON.parse(readFileSync(join(dir, 'out/results.json'), 'utf8')) as { trials: Array<{ measure: { requestThroughput: number; failed: number } }>; chosen: { point: Record<string, number> } };
    expect(results.trials.map((trial) => trial.measure.failed)).toEqual([0, 0]);
    expect(results.trials.every((trial) => trial.measure.requestThroughput > 0)).toBe(true);
    expect(readFileSync(yamlFile, 'utf8')).toContain(`batch_timeout_ms: ${results.chosen.point['batch_timeout_ms']}`);
  }, 120_000);
});
