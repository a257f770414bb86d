// The original guide's "Migration Checklist", run the way the guide and docs/migration-guide.md tell
// a user to: config files, MUAI_* variables, `muai serve`, HTTP. Each runnable item is a test here;
// items about people and process (deploy to staging, train the team) are not runnable. The vLLM
// server is a stand-in speaking vLLM's documented protocol (vLLM itself needs a GPU and Python).
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startStandInOpenAiServer, type StandInOpenAiServer } from '@muai/engines-http/testing';
import { cliBin, repoRoot, runCli, spawnServe, tinyModel, type ServedCli } from './cli-harness.js';

let dir: string;
const servers: ServedCli[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'muai-checklist-'));
});

afterAll(async () => {
  for (const served of servers) {
    served.child.kill('SIGTERM');
    await served.exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

async function serve(options: Parameters<typeof spawnServe>[0]): Promise<ServedCli> {
  const served = await spawnServe(options);
  servers.push(served);
  return served;
}

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** A completion on the default model (a base model without a chat template: `prompt`, as the guide's curl). */
async function complete(url: string, prompt = 'Once upon a time'): Promise<Response> {
  return fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'default', prompt, max_tokens: 4 }),
  });
}

/** Runs the built CLI to its end (for commands that must refuse to start). */
function runToExit(args: readonly string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [cliBin, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (data: Buffer) => (output += data.toString()));
    child.stderr.on('data', (data: Buffer) => (output += data.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      done({ code, output });
    });
  });
}

describe('migration checklist: configuration', () => {
  it('"Create optimization configuration file": the example files validate, one -c per file', async () => {
    const system = join(dir, 'system.yaml');
    const optimization = join(dir, 'optimization.yaml');
    copyFileSync(join(repoRoot, 'config/system.yaml'), system);
    copyFileSync(join(repoRoot, 'config/optimization.example.yaml'), optimization);
    const result = await runCli(['config', 'validate', '-c', system, '-c', optimization]);
    expect(result.code, result.stderr).toBe(0);
  });

  it('`muai --config FILE "query"` runs the query (the query is not taken as a second file)', async () => {
    const file = write('plain.yaml', 'optimization:\n  fallback_on_error: true\n');
    const withQuery = await runCli(['--config', file, '--max-tokens', '2', '--json', 'What is AI?']);
    expect(withQuery.code, withQuery.stderr).toBe(0);
    expect(JSON.parse(withQuery.stdout.trim().split('\n').at(-1) ?? '{}')).toMatchObject({ engine: 'onnx' });
    // Options but no query: an error, never a silent exit 0.
    const noQuery = await runCli(['--config', file]);
    expect(noQuery.code).toBe(1);
    expect(noQuery.stderr).toContain('No query given');
  });
});

describe('migration checklist: baseline, metrics, health', () => {
  it('"Test with PyTorch only (baseline)": engine_preference [pytorch] serves on the embedded engine', async () => {
    const viaEnv = await runToExit(['--json', '--max-tokens', '2', 'What is AI?'], { MUAI_OPT_ENGINE_PREFERENCE: 'pytorch' });
    expect(viaEnv.code, viaEnv.output).toBe(0);
    expect(viaEnv.output).toContain('"engine":"onnx"');
  });

  it('"Enable Prometheus metrics" / "Verify metrics endpoint": `muai serve -c a.yaml -c b.yaml` honours both files; the exporter binds loopback and the startup line says where', async () => {
    const port = await freePort();
    const system = write('serve-system.yaml', 'router:\n  default_workflow: chat\n');
    const optimization = write('serve-optimization.yaml', `monitoring:\n  enabled: true\n  prometheus:\n    enabled: true\n    port: ${port}\n`);
    const served = await serve({ args: ['-c', system, '-c', optimization], env: { MUAI_MON_PROMETHEUS_ENABLED: 'true' }, waitReady: true });
    expect(served.logs()).toContain(`metrics http://127.0.0.1:${port}/metrics`);
    expect((await complete(served.url)).status).toBe(200);
    const scrape = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(scrape.status).toBe(200);
    expect(await scrape.text()).toContain('muai_requests_total{');
  });

  it('"Test health/readiness endpoints": /health and /ready answer 200 with JSON once the default model is loaded', async () => {
    const served = await serve({ waitReady: true });
    const health = await fetch(`${served.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    const ready = await fetch(`${served.url}/ready`);
    expect(await ready.json()).toMatchObject({ status: 'ready' });
  });

  it('/ready is 503 with the reason when the default model cannot load (not 200 while every request fails)', async () => {
    const served = await serve({ env: { MUAI_MODEL: join(dir, 'no-such-model'), MUAI_MON_SERVER_PRELOAD_MODELS: '' } });
    const deadline = Date.now() + 20_000;
    let body: { status?: string; reason?: string } = {};
    while (Date.now() < deadline) {
      const ready = await fetch(`${served.url}/ready`);
      body = (await ready.json()) as typeof body;
      if (body.status === 'unavailable') {
        expect(ready.status).toBe(503);
        break;
      }
      await new Promise((done) => setTimeout(done, 100));
    }
    expect(body.reason).toContain('MODEL_NOT_FOUND');
    const health = await (await fetch(`${served.url}/health`)).json();
    expect(health).toMatchObject({ status: 'degraded' });
  });
});

describe('migration checklist: vLLM (stand-in speaking vLLM\'s protocol)', () => {
  let vllm: StandInOpenAiServer;
  beforeAll(async () => {
    vllm = await startStandInOpenAiServer({ models: ['default'] });
  });
  afterAll(async () => {
    await vllm.close();
  });

  it('"Enable vLLM" / "Test vLLM inference": Option A, MUAI_OPT_VLLM_ENABLED=true with MUAI_OPT_VLLM_ENDPOINTS, sends requests to vLLM', async () => {
    const served = await serve({ env: { MUAI_OPT_VLLM_ENABLED: 'true', MUAI_OPT_VLLM_ENDPOINTS: vllm.url }, waitReady: true });
    const before = vllm.requests.filter((request) => request.path.startsWith('/v1/')  && request.method === 'POST').length;
    expect((await complete(served.url)).status).toBe(200);
    const after = vllm.requests.filter((request) => request.path.startsWith('/v1/')  && request.method === 'POST').length;
    expect(after).toBe(before + 1);
    // The hop chain travels with the request, so a server in a loop can recognise itself.
    expect(String(vllm.requests.at(-1)?.headers.via)).toMatch(/^1\.1 muai-[0-9a-f]{8}$/);
  });

  it('refuses to start when vLLM is enabled without an endpoint on muai serve\'s own port (the request loop of the guide\'s merged config)', async () => {
    const port = await freePort();
    const result = await runToExit(['serve', '--port', String(port)], { MUAI_OPT_VLLM_ENABLED: 'true', MUAI_OPT_VLLM_PORT: String(port), MUAI_MON_PROMETHEUS_ENABLED: 'false' });
    expect(result.code).toBe(1);
    expect(result.output).toContain('CONFIG_INVALID');
    expect(result.output).toContain('optimization.vllm.port');
  });

  it('two servers whose vLLM endpoints point at each other answer promptly with a coded error instead of recursing', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    // Each preloads a local model pinned to the embedded engine, so that neither probes the other
    // before both listen; "default" goes to vLLM only (no fallback), i.e. to the other server.
    const system = write('loop-system.yaml', `models:\n  local:\n    path: ${JSON.stringify(tinyModel)}\n    engine: onnx\n`);
    const env = (other: number) => ({ MUAI_OPT_VLLM_ENABLED: 'true', MUAI_OPT_VLLM_ENDPOINTS: `http://127.0.0.1:${other}`, MUAI_OPT_FALLBACK_ON_ERROR: 'false', MUAI_OPT_ENGINE_PREFERENCE: 'vllm', MUAI_MON_SERVER_PRELOAD_MODELS: 'local' });
    const a = await serve({ args: ['-c', system, '--port', String(portA)], env: env(portB), waitReady: true });
    await serve({ args: ['-c', system, '--port', String(portB)], env: env(portA), waitReady: true });
    const started = Date.now();
    const response = await complete(a.url);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(response.status).toBe(508);
    expect(JSON.stringify(await response.json())).toContain('LOOP_DETECTED');
  });
});

describe('migration checklist: batching', () => {
  it('"Enable dynamic batching" / "Test batch processing": concurrent requests are batched and muai_batch_size has samples', async () => {
    const served = await serve({ env: { MUAI_OPT_BATCHER_ENABLED: 'true', MUAI_OPT_BATCHER_BATCH_TIMEOUT_MS: '20' }, waitReady: true });
    const responses = await Promise.all(Array.from({ length: 4 }, (_, index) => complete(served.url, `question ${index}`)));
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 200]);
    const metrics = await (await fetch(`${served.url}/metrics`)).text();
    const count = /muai_batch_size_count\{[^}]*\} (\d+)/.exec(metrics);
    expect(Number(count?.[1] ?? 0)).toBeGreaterThan(0);
  });
});

describe('migration checklist: the auto-tuner (optimization.tuner.enabled)', () => {
  it('runs in muai serve: it steps on the served traffic, logs each decision with its reason, shows them on GET /v1/tuner and in /metrics', async () => {
    const served = await serve({
      env: { MUAI_OPT_TUNER_ENABLED: 'true', MUAI_OPT_TUNER_INTERVAL_MS: '300', MUAI_OPT_TUNER_TARGET_P99_LATENCY_MS: '60000', MUAI_MON_SERVER_EXPOSE_METRICS: 'true' },
      waitReady: true,
    });
    expect(served.logs()).not.toContain('auto-tuning is not available');
    expect(served.logs()).toContain('tuner: on (objective throughput');
    const deadline = Date.now() + 20_000;
    let state: { step: number; settings: Record<string, number>; decisions: Array<{ parameter: string | null; direction: string; from: number | null; to: number | null; reason: string }> } = { step: 0, settings: {}, decisions: [] };
    // Enough traffic in each 300 ms window for the tuner to judge (5 requests), and enough at once to fill
    // a batch of 16 (the tuner raises only a limit the load reaches), until it raised max_batch_size (far below the SLO).
    while (!state.decisions.some((d) => d.direction === 'up') && Date.now() < deadline) {
      const responses = await Promise.all(Array.from({ length: 40 }, () => complete(served.url)));
      expect(responses.every((response) => response.status === 200)).toBe(true);
      await Promise.all(responses.map((response) => response.text()));
      state = (await (await fetch(`${served.url}/v1/tuner`)).json()) as typeof state;
    }
    expect(state.step).toBeGreaterThan(0);
    const up = state.decisions.find((d) => d.direction === 'up')!;
    expect(up).toMatchObject({ parameter: 'max_batch_size' });
    // Two rules raise it, depending on how the 40 requests meet the windows: the additive step while
    // the SLO holds (16 -> 18), or the doubling while a full batch waits (16 -> 32).
    if (up.to === 18) expect(up.reason).toContain('SLO holds');
    else expect(up).toMatchObject({ to: 32, reason: expect.stringContaining('a full batch or more: the batch limit binds') });
    expect(up.from).toBe(16);
    expect(state.settings.max_batch_size).toBeGreaterThan(16);
    expect(served.logs()).toContain(`tuner: max_batch_size 16 -> ${up.to} (up)`);
    const metrics = await (await fetch(`${served.url}/metrics`)).text();
    expect(metrics).toMatch(/muai_tuner_setting\{parameter="max_batch_size"\} \d+/);
    expect(metrics).toContain('muai_tuner_adjustments_total{parameter="max_batch_size",direction="up"}');
  }, 40_000);
});

/** A loopback HTTP receiver that records each POST body (OTLP/HTTP protobuf, whose span names are plain UTF-8 inside; alert webhooks). */
async function receiver(): Promise<{ url: string; bodies: Array<{ path: string; body: string }>; close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const bodies: Array<{ path: string; body: string }> = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      bodies.push({ path: request.url ?? '', body });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, bodies, close: () => new Promise((done) => server.close(() => done())) };
}

describe('migration checklist: caching, tracing, alerts', () => {
  it('"Enable KV caching" / "Test cache hit rates": the same prompt twice is a prefix-cache hit in /metrics', async () => {
    const served = await serve({ env: { MUAI_OPT_CACHE_ENABLED: 'true' }, waitReady: true });
    const prompt = 'The same long prompt that both requests share, so that the second finds it cached.';
    expect((await complete(served.url, prompt)).status).toBe(200);
    expect((await complete(served.url, prompt)).status).toBe(200);
    const metrics = await (await fetch(`${served.url}/metrics`)).text();
    const hits = [...metrics.matchAll(/^muai_kv_cache_hits_total\{[^}]*\} (\d+(?:\.\d+)?)$/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
    expect(hits).toBeGreaterThan(0);
  });

  it('"Enable OpenTelemetry tracing" / "Verify traces in collector": a completion arrives as OTLP spans at the collector', async () => {
    const collector = await receiver();
    try {
      const served = await serve({
        env: { MUAI_MON_TRACING_ENABLED: 'true', MUAI_MON_TRACING_PROTOCOL: 'http', MUAI_MON_TRACING_ENDPOINT: `${collector.url}/v1/traces`, MUAI_MON_TRACING_SAMPLE_RATE: '1' },
        waitReady: true,
      });
      expect((await complete(served.url)).status).toBe(200);
      const deadline = Date.now() + 15_000;
      while (!collector.bodies.some((entry) => entry.body.includes('POST /v1/completions')) && Date.now() < deadline) await new Promise((done) => setTimeout(done, 200));
      const exported = collector.bodies.filter((entry) => entry.path === '/v1/traces').map((entry) => entry.body).join('\n');
      expect(exported).toContain('POST /v1/completions');
      expect(exported).toContain('text_completion default');
    } finally {
      await collector.close();
    }
  });

  it('"Enable anomaly detection" / "Test alert delivery": muai alerts test delivers through the configured webhook', async () => {
    const hook = await receiver();
    try {
      const file = write('alerts.yaml', `monitoring:\n  anomaly:\n    enabled: true\n    targets:\n      - { type: webhook, url: "${hook.url}/alerts" }\n`);
      const result = await runCli(['alerts', 'test', '-c', file]);
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(hook.bodies.map((entry) => entry.path)).toContain('/alerts');
    } finally {
      await hook.close();
    }
  });
});
