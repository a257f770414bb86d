/**
 * `muai bench` end to end: against the built `muai serve` (the real ONNX engine on the generated
 * tiny model) its token counts equal the server's /metrics counters for the run; against the
 * embedded engine they equal the engine's own counts; the CLI writes its files, fails with codes
 * before any load, compares two results, and on Ctrl-C cancels and still writes what it measured.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeResult, createEngineTarget, createOpenAiTarget, randomDataset, runBenchmark } from '@muai/bench';
import type { BenchResult } from '@muai/bench';
import { createOnnxEngine } from '@muai/engines-onnx';
import { cliBin, repoRoot, runCli, spawnServe, tinyModel } from './cli-harness.js';
import type { ServedCli } from './cli-harness.js';

/** Sum of a counter over all its label sets in Prometheus text. */
function counter(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

async function tokenCounters(url: string): Promise<{ prompt: number; generation: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return { prompt: counter(text, 'muai_prompt_tokens_total'), generation: counter(text, 'muai_generation_tokens_total') };
}

const lastJsonLine = (stdout: string): BenchResult => JSON.parse(stdout.trimEnd().split('\n').at(-1)!) as BenchResult;

describe('muai bench against muai serve', () => {
  let served: ServedCli;
  const dir = mkdtempSync(join(tmpdir(), 'muai-bench-cli-'));
  beforeAll(async () => {
    served = await spawnServe({ waitReady: true });
  }, 60_000);
  afterAll(async () => {
    served?.child.kill('SIGTERM');
    await served?.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  for (const endpoint of ['/v1/completions', '/v1/chat/completions'] as const) {
    it(`token counts equal the server's /metrics counters for the run (${endpoint})`, async () => {
      const target = createOpenAiTarget({ baseUrl: served.url, endpoint });
      await target.preflight();
      const before = await tokenCounters(served.url);
      expect(before.prompt).toBeGreaterThan(0);
      const run = await runBenchmark({ target, prompts: randomDataset({ numPrompts: 12, inputLen: 24, outputLen: 12, rangeRatio: 0.5, seed: 3 }), maxConcurrency: 3 });
      await target.close();
      const result = computeResult(run);
      const after = await tokenCounters(served.url);
      expect(result.completed).toBe(12);
      expect(run.requests.every((record) => record.usageFromServer)).toBe(true);
      expect(result.total_input_tokens).toBe(after.prompt - before.prompt);
      expect(result.total_output_tokens).toBe(after.generation - before.generation);
      expect(result.total_output_tokens).toBeGreaterThan(12);
    }, 60_000);
  }

  it('the CLI prints the result, the --json line last, and writes results, CSV and report', async () => {
    const save = join(dir, 'a.json');
    const { code, stdout, stderr } = await runCli([
      'bench', '--base-url', served.url, '--num-prompts', '10', '--max-concurrency', '2', '--random-input-len', '16', '--random-output-len', '8',
      '--goodput', 'ttft:10000', 'e2el:20000', '--percentiles', '25,75', '--json', '--save-results', save, '--csv', join(dir, 'a.csv'), '--report', join(dir, 'a.html'),
    ]);
    expect(stderr).not.toContain('error');
    expect(code).toBe(0);
    expect(stdout).toContain('Serving Benchmark Result');
    const result = lastJsonLine(stdout);
    for (const key of ['completed', 'failed', 'total_input_tokens', 'total_output_tokens', 'request_throughput', 'output_throughput', 'total_token_throughput', 'mean_ttft_ms', 'median_tpot_ms', 'std_itl_ms', 'p99_e2el_ms', 'p25_ttft_ms', 'goodput', 'configuration', 'machine']) {
      expect(result, key).toHaveProperty(key);
    }
    expect(result.completed).toBe(10);
    expect(result.goodput).toBeCloseTo(result.request_throughput, 6);
    expect(result.requests).toBeUndefined();
    const saved = JSON.parse(readFileSync(save, 'utf8')) as BenchResult;
    expect(saved.requests).toHaveLength(10);
    expect(readFileSync(join(dir, 'a.csv'), 'utf8').trimEnd().split('\n')).toHaveLength(11);
    const html = readFileSync(join(dir, 'a.html'), 'utf8');
    expect(html).toContain('uPlot');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
  }, 60_000);

  it('--tokenizer DIR sizes random prompts in the model\'s tokens: the server counts the same', async () => {
    const save = join(dir, 'tokenized.json');
    const { code } = await runCli(['bench', '--base-url', served.url, '--num-prompts', '6', '--random-input-len', '20', '--random-output-len', '2', '--tokenizer', tinyModel, '--save-results', save, '--no-progress']);
    expect(code).toBe(0);
    const saved = JSON.parse(readFileSync(save, 'utf8')) as BenchResult;
    for (const record of saved.requests!) {
      expect(record.usageFromServer).toBe(true);
      // At most the target, short by less than one word's tokens.
      expect(record.promptTokens).toBeLessThanOrEqual(20);
      expect(record.promptTokens).toBeGreaterThanOrEqual(16);
    }
  }, 60_000);

  it('a sweep gives one result per point; compare reads two saved results', async () => {
    const { code, stdout } = await runCli(['bench', '--base-url', served.url, '--num-prompts', '8', '--sweep', 'concurrency=1,2', '--random-input-len', '8', '--random-output-len', '4', '--json', '--save-results', join(dir, 'sweep.json'), '--no-progress']);
    expect(code).toBe(0);
    const line = JSON.parse(stdout.trimEnd().split('\n').at(-1)!) as { results: BenchResult[] };
    expect(line.results.map((result) => result.configuration['max_concurrency'])).toEqual([1, 2]);
    const b = join(dir, 'b.json');
    expect((await runCli(['bench', '--base-url', served.url, '--num-prompts', '10', '--max-concurrency', '2', '--random-input-len', '16', '--random-output-len', '8', '--save-results', b, '--no-progress'])).code).toBe(0);
    const compared = await runCli(['bench', 'compare', join(dir, 'a.json'), b, '--json']);
    expect(compared.code).toBe(0);
    expect(compared.stdout).toContain('median_ttft_ms');
    expect(compared.stdout).toContain('run-to-run variation');
  }, 60_000);

  it('Ctrl-C cancels in-flight requests and still writes the results', async () => {
    const save = join(dir, 'interrupted.json');
    const child = spawn(process.execPath, [cliBin, 'bench', '--base-url', served.url, '--num-prompts', '100000', '--max-concurrency', '2', '--random-input-len', '16', '--random-output-len', '64', '--save-results', save], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    // Interrupt once requests are flowing (a progress line has been printed).
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (/done/.test(stderr)) {
          clearInterval(check);
          resolve();
        }
      }, 50);
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(stderr).toContain('interrupted');
    expect(code).toBe(0);
    const saved = JSON.parse(readFileSync(save, 'utf8')) as BenchResult;
    expect(saved.interrupted).toBe(true);
    expect(saved.completed).toBeGreaterThan(0);
    expect(saved.completed + saved.failed + saved.cancelled).toBe(saved.requests!.length);
  }, 60_000);
});

describe('muai bench errors before any load', () => {
  it('unreachable URL, wrong endpoint, invalid dataset: coded errors, exit 1', async () => {
    const unreachable = await runCli(['bench', '--base-url', 'http://127.0.0.1:9', '--served-model-name', 'm', '--no-progress']);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain('error BENCH_TARGET_UNREACHABLE');
    const dataset = await runCli(['bench', '--base-url', 'http://127.0.0.1:9', '--dataset-name', 'sharegpt', '--dataset-path', join(tmpdir(), 'no-such-file.json')]);
    expect(dataset.stderr).toContain('error DATASET_INVALID');
    const both = await runCli(['bench', '--base-url', 'http://x', '--model', tinyModel]);
    expect(both.stderr).toContain('exactly one target');
  });

  it('a wrong endpoint on muai serve: BENCH_TARGET_INVALID', async () => {
    const served = await spawnServe({ waitReady: true });
    try {
      const wrong = await runCli(['bench', '--base-url', `${served.url}/api`, '--served-model-name', 'default', '--no-progress']);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toContain('error BENCH_TARGET_INVALID');
      expect(wrong.stderr).toContain('HTTP 404');
    } finally {
      served.child.kill('SIGTERM');
      await served.exited;
    }
  }, 60_000);
});

describe('muai bench on the embedded engine', () => {
  it("token counts equal the engine's own counts for the same prompts", async () => {
    expect(existsSync(join(tinyModel, 'onnx/model.onnx'))).toBe(true);
    const engine = createOnnxEngine();
    await engine.load({ name: 'default', path: tinyModel });
    try {
      const prompts = randomDataset({ numPrompts: 6, inputLen: 20, outputLen: 10, rangeRatio: 0.5, seed: 2, countTokens: (text) => engine.encodeRequest({ model: 'default', prompt: text }).length });
      const target = createEngineTarget({ engine });
      await target.preflight();
      const result = computeResult(await runBenchmark({ target, prompts, maxConcurrency: 2 }));
      expect(result.completed).toBe(6);
      let prompt = 0;
      let output = 0;
      for (const item of prompts) {
        prompt += engine.encodeRequest({ model: 'default', prompt: item.prompt }).length;
        output += (await engine.generate({ model: 'default', prompt: item.prompt, maxTokens: item.maxTokens, temperature: 0 })).usage.completionTokens;
      }
      expect(result.total_input_tokens).toBe(prompt);
      expect(result.total_output_tokens).toBe(output);
      expect(result.mean_ttft_ms).toBeGreaterThan(0);
    } finally {
      await engine.close();
    }
  }, 60_000);

  it('the CLI with --model DIR runs in process', async () => {
    const { code, stdout } = await runCli(['bench', '--model', tinyModel, '--num-prompts', '4', '--max-concurrency', '2', '--random-input-len', '8', '--random-output-len', '4', '--json', '--no-progress']);
    expect(code).toBe(0);
    const result = lastJsonLine(stdout);
    expect(result.completed).toBe(4);
    expect(result.configuration['target']).toBe('engine onnx (default)');
    expect(result.total_input_tokens).toBeGreaterThanOrEqual(4 * 7);
  }, 60_000);
});
