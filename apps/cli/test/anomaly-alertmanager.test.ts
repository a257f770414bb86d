/**
 * monitoring.anomaly end to end with real parts: the server `muai serve` starts (in process, on a
 * fault-injection engine whose latency and failures the test controls), the same wiring
 * (`createAnomalyWiring`: built-in rules, performance monitor, in-flight queue depth, check timer,
 * GET /v1/alerts), and Debian's real Alertmanager 0.25 receiving pushes through API v2.
 *
 * Bounds stated here and asserted: with check_interval_ms 100 and a 1 s monitor window, an
 * injected fault shows up in Alertmanager's GET /api/v2/alerts within 6 s, and disappears from it
 * (resolved, endsAt = resolve time) within 8 s of recovery; 20 s for the error burst, whose
 * 6h/30m burn pair scales to 216 s/18 s here and may hold until the burst leaves the 18 s window.
 * A steady load as long as all the injections together raises nothing.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MuaiError, type Engine, type GenerationRequest, type GenerationResult, type StreamChunk } from '@muai/core';
import { FakeEngine, freePort } from '@muai/core/testing';
import { parseConfig } from '@muai/config';
import { createPerformanceMonitor, createPrometheusExporter } from '@muai/monitoring';
import { startServer, type RunningServer } from '@muai/server';
import { createAnomalyWiring, type AnomalyWiring } from '../src/commands/anomaly-wiring.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));


/** Debian's alertmanager binary; throws (failing the test) when it is missing. */
function requireAlertmanager(): string {
  for (const name of ['prometheus-alertmanager', 'alertmanager']) {
    const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (found.status === 0 && found.stdout.trim() !== '') return found.stdout.trim();
  }
  throw new Error('Alertmanager is not installed. Install Debian\'s prometheus-alertmanager package (apt-get install prometheus-alertmanager) and run the tests again.');
}

/** An engine whose latency and failures the test sets at run time: the fault injection. */
class FaultInjectionEngine implements Engine {
  readonly specificationVersion = 'v1' as const;
  readonly name = 'fault';
  // 100 ms, so that event-loop stalls of a loaded CI machine (tens of ms) stay far under the
  // latency rule's 2× band; the spike is 10×.
  latencyMs = 100;
  failing = false;
  private readonly inner = new FakeEngine({ name: 'fault' });
  readonly capabilities = this.inner.capabilities;
  load = this.inner.load.bind(this.inner);
  unload = this.inner.unload.bind(this.inner);
  models = this.inner.models.bind(this.inner);
  health = this.inner.health.bind(this.inner);
  infer = this.inner.infer.bind(this.inner);
  async generate(request: GenerationRequest): Promise<GenerationResult> {
    await sleep(this.latencyMs);
    if (this.failing) throw new MuaiError('ENGINE_ERROR', 'injected failure');
    return this.inner.generate(request);
  }
  async *stream(request: GenerationRequest): AsyncIterable<StreamChunk> {
    const result = await this.generate(request);
    yield { text: result.text, finishReason: result.finishReason, usage: result.usage };
  }
  async generateBatch(requests: readonly GenerationRequest[]): Promise<Array<GenerationResult | Error>> {
    return Promise.all(requests.map((request) => this.generate(request).catch((error: unknown) => error as Error)));
  }
  async close(): Promise<void> {}
}

interface AmAlert {
  labels: Record<string, string>;
  status: { state: string };
  endsAt: string;
}

let alertmanager: ChildProcess | undefined;
let alertmanagerUrl = '';
let alertmanagerLog = '';
let workDir = '';
let server: RunningServer | undefined;
let wiring: AnomalyWiring | undefined;
const engine = new FaultInjectionEngine();
const warnings: string[] = [];

async function amAlerts(): Promise<AmAlert[]> {
  const response = await fetch(`${alertmanagerUrl}/api/v2/alerts`);
  expect(response.status).toBe(200);
  return (await response.json()) as AmAlert[];
}

/** Polls Alertmanager until `predicate` holds; returns the time it took, ms, or throws after `boundMs`. */
async function waitFor(what: string, predicate: (alerts: AmAlert[]) => boolean, boundMs: number): Promise<number> {
  const started = Date.now();
  let last: AmAlert[] = [];
  while (Date.now() - started < boundMs) {
    last = await amAlerts();
    if (predicate(last)) return Date.now() - started;
    await sleep(100);
  }
  throw new Error(`${what} not seen within ${boundMs} ms; Alertmanager has ${JSON.stringify(last.map((alert) => alert.labels.alertname))}; log:\n${alertmanagerLog.slice(-2000)}\nwarnings:\n${warnings.join('\n')}`);
}

const has = (name: string) => (alerts: AmAlert[]) => alerts.some((alert) => alert.labels.alertname === name && alert.status.state === 'active');
const lacks = (name: string) => (alerts: AmAlert[]) => !alerts.some((alert) => alert.labels.alertname === name);

/** Closed-loop load: `concurrency` clients, each sending one request after the other. */
function load(url: string, concurrency: number): { stop: () => Promise<{ ok: number; failed: number }> } {
  let running = true;
  let ok = 0;
  let failed = 0;
  const client = async () => {
    while (running) {
      const response = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'fake', prompt: 'one two three', max_tokens: 3 }),
      }).catch(() => undefined);
      await response?.text();
      if (response?.ok) ok += 1;
      else failed += 1;
    }
  };
  const clients = Array.from({ length: concurrency }, client);
  return {
    stop: async () => {
      running = false;
      await Promise.all(clients);
      return { ok, failed };
    },
  };
}

beforeAll(async () => {
  const binary = requireAlertmanager();
  workDir = mkdtempSync(join(tmpdir(), 'muai-alertmanager-'));
  writeFileSync(join(workDir, 'alertmanager.yml'), 'route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n');
  const port = await freePort();
  alertmanagerUrl = `http://127.0.0.1:${port}`;
  alertmanager = spawn(
    binary,
    [`--config.file=${join(workDir, 'alertmanager.yml')}`, `--storage.path=${join(workDir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address='],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  alertmanager.stdout?.on('data', (chunk: Buffer) => (alertmanagerLog += chunk.toString()));
  alertmanager.stderr?.on('data', (chunk: Buffer) => (alertmanagerLog += chunk.toString()));
  const started = Date.now();
  for (;;) {
    const ready = await fetch(`${alertmanagerUrl}/-/ready`).then((response) => response.ok, () => false);
    if (ready) break;
    if (Date.now() - started > 15_000 || alertmanager.exitCode !== null) throw new Error(`Alertmanager did not start:\n${alertmanagerLog}`);
    await sleep(100);
  }

  const config = parseConfig({
    monitoring: {
      anomaly: {
        enabled: true,
        check_interval_ms: 100,
        cooldown_ms: 1000,
        targets: [{ type: 'alertmanager', url: alertmanagerUrl, resend_interval_ms: 1000 }, { type: 'log' }],
      },
    },
  });
  await engine.load({ name: 'fake', path: 'fake' });
  // The monitor window is 1 s (10 buckets of 100 ms) so that recovery shows within the bounds.
  const performanceMonitor = createPerformanceMonitor({ windowMs: 1000, bucketMs: 100 });
  const exporter = createPrometheusExporter({});
  wiring = createAnomalyWiring({ config, performanceMonitor, exporter, logger: { warn: (message) => warnings.push(message), info: (message) => warnings.push(message) } });
  expect(wiring).toBeDefined();
  server = await startServer({ engine, defaultModel: 'fake', port: 0, metrics: wiring!.metrics(exporter), plugins: [wiring!.plugin] });
  wiring!.start();
}, 60_000);

afterAll(async () => {
  await wiring?.stop();
  await server?.close();
  if (alertmanager && alertmanager.exitCode === null) {
    const exited = new Promise((resolve) => alertmanager!.once('exit', resolve));
    alertmanager.kill('SIGTERM');
    await exited;
  }
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

describe('anomaly alerts in a real Alertmanager', () => {
  const url = () => server!.url;

  it('a steady load raises nothing (as long as the injections below together)', async () => {
    // 24 s: the three injection tests below take about 23 to 26 s together.
    const steady = load(url(), 2);
    await sleep(24_000);
    const { ok, failed } = await steady.stop();
    expect(ok).toBeGreaterThan(200);
    expect(failed).toBe(0);
    expect(await amAlerts()).toEqual([]);
    expect(wiring!.detector.alerts()).toEqual([]);
    const listed = (await (await fetch(`${url()}/v1/alerts`)).json()) as { data: unknown[] };
    expect(listed.data).toEqual([]);
  }, 40_000);

  it('a latency spike fires MuaiLatencyP99High and resolves after recovery', async () => {
    const traffic = load(url(), 2);
    await sleep(1500);
    engine.latencyMs = 1000;
    const fired = await waitFor('MuaiLatencyP99High', has('MuaiLatencyP99High'), 6000);
    const listed = (await (await fetch(`${url()}/v1/alerts`)).json()) as { data: Array<{ rule: string; state: string }> };
    expect(listed.data).toContainEqual(expect.objectContaining({ rule: 'MuaiLatencyP99High', state: 'firing' }));
    engine.latencyMs = 100;
    const resolved = await waitFor('MuaiLatencyP99High resolved', lacks('MuaiLatencyP99High'), 8000);
    await traffic.stop();
    console.info(`latency spike: in Alertmanager after ${fired} ms, resolved ${resolved} ms after recovery`);
  }, 30_000);

  it('an error burst fires MuaiErrorBudgetBurnFast (critical) and resolves after recovery', async () => {
    const traffic = load(url(), 2);
    await sleep(1000);
    engine.failing = true;
    const fired = await waitFor('MuaiErrorBudgetBurnFast', has('MuaiErrorBudgetBurnFast'), 6000);
    const alert = (await amAlerts()).find((candidate) => candidate.labels.alertname === 'MuaiErrorBudgetBurnFast');
    expect(alert?.labels).toMatchObject({ severity: 'critical', series: 'error_rate', service: 'muai' });
    engine.failing = false;
    const resolved = await waitFor('MuaiErrorBudgetBurnFast resolved', lacks('MuaiErrorBudgetBurnFast'), 20_000);
    await traffic.stop();
    console.info(`error burst: in Alertmanager after ${fired} ms, resolved ${resolved} ms after recovery`);
  }, 40_000);

  it('queue growth fires MuaiQueueBacklog and resolves after recovery', async () => {
    engine.latencyMs = 1500;
    const flood = load(url(), 40);
    const fired = await waitFor('MuaiQueueBacklog', has('MuaiQueueBacklog'), 6000);
    // Each push says endsAt = now + 4 × resend_interval_ms (4 s): still active after 5 s proves
    // the firing alert is re-sent before Alertmanager would expire it.
    await sleep(5000);
    expect(has('MuaiQueueBacklog')(await amAlerts())).toBe(true);
    await flood.stop();
    engine.latencyMs = 100;
    const resolved = await waitFor('MuaiQueueBacklog resolved', lacks('MuaiQueueBacklog'), 8000);
    console.info(`queue growth: in Alertmanager after ${fired} ms, resolved ${resolved} ms after recovery`);
    const metrics = await (await fetch(`${url()}/metrics`)).text();
    expect(metrics).toMatch(/muai_anomaly_alerts_total\{rule="MuaiQueueBacklog",severity="warning"\} 1/);
    expect(metrics).toMatch(/muai_anomaly_deliveries_total\{target="alertmanager:127\.0\.0\.1:\d+",outcome="sent"\} \d+/);
    expect(warnings.filter((line) => line.includes('failed'))).toEqual([]);
  }, 30_000);
});
