import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '@muai/config';
import { FakeEngine } from '@muai/core/testing';
import { createPerformanceMonitor } from '@muai/monitoring';
import { startServer } from '@muai/server';
import { runCli } from '../../test/cli-harness.js';
import { createAnomalyWiring } from './anomaly-wiring.js';

const servers: Server[] = [];
let dir = '';

beforeEach(() => {
  for (const name of Object.keys(process.env)) if (name.startsWith('MUAI_')) vi.stubEnv(name, undefined);
  process.exitCode = undefined;
  dir = mkdtempSync(join(tmpdir(), 'muai-alerts-'));
});

afterEach(async () => {
  vi.unstubAllEnvs();
  process.exitCode = undefined;
  rmSync(dir, { recursive: true, force: true });
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** Loopback receiver answering from a script of replies; records bodies. */
async function receiver(replies: Array<{ status: number; headers?: Record<string, string> }>) {
  const bodies: unknown[] = [];
  let index = 0;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      bodies.push(JSON.parse(text));
      const reply = replies[Math.min(index++, replies.length - 1)] ?? { status: 200 };
      response.writeHead(reply.status, reply.headers ?? {});
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies };
}

describe('muai alerts test', () => {
  it('sends a test alert through every target and reports each result; exit 1 when one fails', async () => {
    const webhook = await receiver([{ status: 500 }, { status: 200 }]);
    const slack = await receiver([{ status: 429, headers: { 'retry-after': '0' } }, { status: 200 }]);
    const amWebhook = await receiver([{ status: 200 }]);
    const file = join(dir, 'alerts.yaml');
    writeFileSync(
      file,
      [
        'monitoring:',
        '  anomaly:',
        '    targets:',
        '      - type: log',
        `      - { type: webhook, url: "${webhook.url}/hook" }`,
        `      - { type: webhook, format: alertmanager, url: "${amWebhook.url}" }`,
        `      - { type: slack, url: "${slack.url}/services/T/B/X" }`,
        '      - { type: alertmanager, url: "http://127.0.0.1:9" }',
        '',
      ].join('\n'),
    );
    const result = await runCli(['alerts', 'test', '--config', file]);
    expect(result.code).toBe(1);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(/^OK {3}log \(\d+ ms\)$/);
    expect(lines[1]).toMatch(/^OK {3}webhook:127\.0\.0\.1:\d+/);
    expect(lines[2]).toMatch(/^OK {3}webhook-am:127\.0\.0\.1:\d+/);
    expect(lines[3]).toMatch(/^OK {3}slack:127\.0\.0\.1:\d+/);
    expect(lines[4]).toMatch(/^FAIL alertmanager:127\.0\.0\.1:9 .*is reachable/);
    expect(result.stdout).toContain('log: alert firing (test): MuaiTestAlert');
    // The 500 and the 429 were retried.
    expect(webhook.bodies).toHaveLength(2);
    expect(slack.bodies).toHaveLength(2);
    expect(amWebhook.bodies[0]).toMatchObject({ version: '4', status: 'firing', alerts: [{ labels: { alertname: 'MuaiTestAlert' } }] });
  });

  it('bad rules are CONFIG_INVALID listing every problem', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      ['monitoring:', '  anomaly:', '    rules:', '      - { name: a, metric: latency_p999_ms, threshold: 1 }', '      - { name: b, metric: queue_depth, detector: ewma, threshold: 3, window_s: 1 }', ''].join('\n'),
    );
    const result = await runCli(['alerts', 'test', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/CONFIG_INVALID[\s\S]*2 problems[\s\S]*rules\[0\]\.metric[\s\S]*rules\[1\]\.window_s/);
  });

  it('a negative window is rejected by the schema (CONFIG_INVALID)', async () => {
    const file = join(dir, 'negative.yaml');
    writeFileSync(file, ['monitoring:', '  anomaly:', '    rules:', '      - { name: a, metric: queue_depth, threshold: 1, window_s: -5 }', ''].join('\n'));
    const result = await runCli(['alerts', 'test', '--config', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/CONFIG_INVALID[\s\S]*monitoring\.anomaly\.rules\.0\.window_s|CONFIG_INVALID[\s\S]*window_s/);
  });
});

describe('muai alerts list', () => {
  it('shows the active alerts of a running server (GET /v1/alerts)', async () => {
    const config = parseConfig({ monitoring: { anomaly: { enabled: true, check_interval_ms: 50, rules: [{ name: 'QueueSeen', metric: 'queue_depth', threshold: -1 }] } } });
    const wiring = createAnomalyWiring({ config, performanceMonitor: createPerformanceMonitor(), logger: { warn: () => {} } })!;
    const engine = new FakeEngine();
    await engine.load({ name: 'fake', path: 'fake' });
    const server = await startServer({ engine, port: 0, metrics: wiring.metrics(undefined), plugins: [wiring.plugin] });
    try {
      await wiring.check();
      const result = await runCli(['alerts', 'list', '--url', server.url, '--api-key', 'unused']);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^firing {3}QueueSeen \[warning\] since \S+: queue_depth anomalous \(threshold -1\) \(value 0\)\n$/);
      const json = await runCli(['alerts', 'list', '--url', server.url, '--api-key', 'unused', '--json']);
      expect(JSON.parse(json.stdout)).toMatchObject([{ rule: 'QueueSeen', state: 'firing', labels: { alertname: 'QueueSeen', service: 'muai' } }]);
    } finally {
      await wiring.stop();
      await server.close();
    }
  });

  it('a server without anomaly detection: a clear error', async () => {
    const engine = new FakeEngine();
    const server = await startServer({ engine, port: 0 });
    try {
      const result = await runCli(['alerts', 'list', '--url', server.url, '--api-key', 'unused']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('monitoring.anomaly.enabled');
    } finally {
      await server.close();
    }
  });
});

describe('muai alerts rules', () => {
  it('writes rules that promtool check rules accepts', async () => {
    const output = join(dir, 'rules.yml');
    const result = await runCli(['alerts', 'rules', '--output', output, '--error-budget', '0.001']);
    expect(result.code).toBe(0);
    const yaml = readFileSync(output, 'utf8');
    expect(yaml).toContain('alert: MuaiErrorBudgetBurnFast');
    expect(yaml).toContain('muai:request_error_ratio:rate5m > 0.0144');
    expect(execFileSync('promtool', ['check', 'rules', output], { encoding: 'utf8' })).toMatch(/SUCCESS: \d+ rules found/);
  });
});
