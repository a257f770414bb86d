/**
 * deploy/grafana/muai.json and deploy/prometheus/*.yml against a real Prometheus (Debian's
 * /usr/bin/prometheus) that scrapes a loaded `muai serve` and evaluates the rules: every PromQL
 * expression must be accepted (no error), and those over metrics the server feeds must return data.
 * `promtool check rules` must pass.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// eslint-disable-next-line @nx/enforce-module-boundaries
import { requireBinary } from '../../../packages/monitoring/test/helpers/binaries.js';
import { repoRoot, spawnServe, type ServedCli } from './cli-harness.js';
import { freePort } from '@muai/core/testing';

const rulesDir = join(repoRoot, 'deploy/prometheus');
const ruleFiles = ['recording-rules.yml', 'alert-rules.yml'];

interface Expression {
  where: string;
  expr: string;
}

/** `expr:` values of a rules file: one-line ones and `|` blocks (the two forms these files use). */
export function ruleExpressions(file: string): Expression[] {
  const lines = readFileSync(join(rulesDir, file), 'utf8').split('\n');
  const found: Expression[] = [];
  lines.forEach((line, index) => {
    const match = /^(\s*)expr:\s*(.*)$/.exec(line);
    if (!match) return;
    const [, indent, rest] = match;
    if (rest !== '|') {
      found.push({ where: `${file}:${index + 1}`, expr: rest!.trim() });
      return;
    }
    const block: string[] = [];
    for (let next = index + 1; next < lines.length && (lines[next]!.startsWith(`${indent}  `) || lines[next]!.trim() === ''); next += 1) block.push(lines[next]!.trim());
    found.push({ where: `${file}:${index + 1}`, expr: block.join(' ').trim() });
  });
  return found;
}

/** Every query of the dashboard, with Grafana's variables replaced as Grafana would for "All". */
function dashboardExpressions(): Expression[] {
  const dashboard = JSON.parse(readFileSync(join(repoRoot, 'deploy/grafana/muai.json'), 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    templating: { list: Array<{ name: string; definition?: string }> };
  };
  const substitute = (expr: string) => expr.replaceAll('$__rate_interval', '1m').replaceAll('$model', '.*').replaceAll('$job', '.*');
  const panels = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ where: panel.title, expr: substitute(target.expr) })));
  // label_values(selector, label) is Grafana's; the selector inside is PromQL.
  const variables = dashboard.templating.list
    .filter((variable) => variable.definition?.startsWith('label_values('))
    .map((variable) => {
      const [, selector, label] = /^label_values\((.*),\s*(\w+)\)$/.exec(variable.definition!)!;
      return { where: `variable ${variable.name}`, expr: substitute(`group by (${label}) (${selector})`) };
    });
  return [...panels, ...variables];
}

/** Metrics a default `muai serve` (ONNX engine, no batcher/KV/anomaly traffic in this test) records for every request. */
const FED = ['muai_requests_total', 'muai_request_duration_seconds', 'muai_time_to_first_token_seconds', 'muai_time_per_output_token_seconds', 'muai_generation_tokens_total', 'muai_prompt_tokens_total', 'up{', 'muai:requests:', 'muai:request_errors:', 'muai:request_duration', 'muai:time_to_first', 'muai:time_per_output', 'muai:generation_tokens', 'muai:prompt_tokens'];
const fed = (expr: string) => FED.some((name) => expr.includes(name)) && !expr.includes('vllm:') && !expr.includes('ALERTS');


type QueryResult = { status: string; error?: string; data?: { result: unknown[] } };

let served: ServedCli;
let prometheusUrl = '';
let prometheusLog = '';
const cleanups: Array<() => Promise<unknown> | void> = [];

async function query(expr: string): Promise<QueryResult> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await response.json()) as QueryResult;
}

async function load(requests: number): Promise<void> {
  for (let index = 0; index < requests; index += 1) {
    const response = await fetch(`${served.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'default', prompt: `question ${index}`, max_tokens: 4, stream: index % 2 === 0 }),
    });
    await response.text();
    expect(response.status).toBe(200);
  }
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms; prometheus log:\n${prometheusLog}`);
    await new Promise((done) => setTimeout(done, 250));
  }
}

beforeAll(async () => {
  const binary = requireBinary('prometheus');
  served = await spawnServe({ waitReady: true });
  cleanups.push(async () => {
    if (served.child.exitCode === null) served.child.kill('SIGTERM');
    await served.exited;
  });
  const dir = mkdtempSync(join(tmpdir(), 'muai-dashboards-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const file of ruleFiles) copyFileSync(join(rulesDir, file), join(dir, file));
  writeFileSync(
    join(dir, 'prometheus.yml'),
    ['global:', '  scrape_interval: 1s', '  evaluation_interval: 1s', 'rule_files:', ...ruleFiles.map((file) => `  - ${file}`), 'scrape_configs:', '  - job_name: muai', '    static_configs:', `      - targets: ['${new URL(served.url).host}']`, ''].join('\n'),
  );
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  const child = spawn(binary, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (chunk: Buffer) => (prometheusLog += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (prometheusLog += chunk.toString()));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  cleanups.push(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  });
  // Traffic, then more traffic after a few scrapes, so that rate() over the window has an increase.
  await load(4);
  await until(async () => ((await query('muai_requests_total')).data?.result.length ?? 0) > 0, 'no muai_requests_total series');
  await new Promise((done) => setTimeout(done, 2500));
  await load(4);
  await until(async () => ((await query('muai:requests:rate5m > 0')).data?.result.length ?? 0) > 0, 'the recording rules never produced muai:requests:rate5m > 0');
  await until(async () => ((await query('sum(rate(muai_generation_tokens_total[1m])) > 0')).data?.result.length ?? 0) > 0, 'no generated tokens rate');
}, 120_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('Prometheus rules', () => {
  it('pass promtool check rules, and the extractor finds every rule', () => {
    const result = spawnSync(requireBinary('promtool'), ['check', 'rules', ...ruleFiles.map((file) => join(rulesDir, file))], { encoding: 'utf8' });
    expect(result.status, result.stdout + result.stderr).toBe(0);
    const counts = [...result.stdout.matchAll(/SUCCESS: (\d+) rules found/g)].map((match) => Number(match[1]));
    expect(counts).toEqual(ruleFiles.map((file) => ruleExpressions(file).length));
  });

  it('every rule expression is accepted by Prometheus; those over served metrics return data', async () => {
    for (const { where, expr } of ruleFiles.flatMap(ruleExpressions)) {
      const result = await query(expr);
      expect(result.status, `${where}: ${expr}: ${result.error}`).toBe('success');
      if (fed(expr) && !expr.includes('> ') && !expr.includes('== 0')) expect(result.data!.result.length, `${where}: ${expr} returned no data`).toBeGreaterThan(0);
    }
  });

  it('the recorded series exist for the served metrics', async () => {
    for (const name of ['muai:requests:rate5m', 'muai:request_errors:ratio_rate5m', 'muai:request_duration_seconds:p99_5m', 'muai:time_to_first_token_seconds:p99_5m', 'muai:generation_tokens:rate5m']) {
      await until(async () => ((await query(name)).data?.result.length ?? 0) > 0, `no ${name}`);
    }
    const errors = await query('muai:request_errors:ratio_rate5m');
    expect(errors.data!.result).toEqual([expect.objectContaining({ value: [expect.any(Number), '0'] })]);
  });
});

describe('deploy/grafana/muai.json', () => {
  it('covers the panels operators need', () => {
    const titles = JSON.parse(readFileSync(join(repoRoot, 'deploy/grafana/muai.json'), 'utf8')).panels.map((panel: { title: string }) => panel.title).join(' | ');
    for (const topic of ['Request rate', 'Error ratio', 'End-to-end latency', 'TTFT', 'TPOT', 'Tokens per second', 'Queue depth', 'Batch size', 'KV cache usage', 'Prefix cache hit rate', 'Engine fallbacks', 'alerts']) {
      expect(titles).toContain(topic);
    }
  });

  it('every query is accepted by Prometheus; those over served metrics return data', async () => {
    const expressions = dashboardExpressions();
    expect(expressions.length).toBeGreaterThan(20);
    const empty: string[] = [];
    for (const { where, expr } of expressions) {
      const result = await query(expr);
      expect(result.status, `${where}: ${expr}: ${result.error}`).toBe('success');
      if (result.data!.result.length === 0) empty.push(`${where}: ${expr}`);
      if (fed(expr)) expect(result.data!.result.length, `${where}: ${expr} returned no data`).toBeGreaterThan(0);
    }
    // Not an assertion: which panels this test's traffic leaves empty (batcher, KV cache, vLLM, fallbacks, alerts).
    console.info(`dashboard queries without data in this test (${empty.length}):\n  ${empty.join('\n  ')}`);
  });
});
