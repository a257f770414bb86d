import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '@muai/config';
import { FakeEngine } from '@muai/core/testing';
import { createPerformanceMonitor } from '@muai/monitoring';
import { startServer } from '@muai/server';
import { createAnomalyWiring } from './anomaly-wiring.js';

describe('createAnomalyWiring', () => {
  it('is off unless monitoring.anomaly.enabled', () => {
    expect(createAnomalyWiring({ config: parseConfig({}), performanceMonitor: createPerformanceMonitor() })).toBeUndefined();
    expect(
      createAnomalyWiring({ config: parseConfig({ monitoring: { enabled: false, anomaly: { enabled: true } } }), performanceMonitor: createPerformanceMonitor() }),
    ).toBeUndefined();
  });

  it('scrapes vLLM /metrics at each check: a vLLM backlog fires VllmQueueBacklog (built-in rules)', async () => {
    let waiting = 3;
    const vllm = createHttpServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      response.end(`# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{engine="0",model_name="m"} ${waiting}\nvllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.4\n`);
    });
    await new Promise<void>((resolve) => vllm.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(vllm.address() as AddressInfo).port}`;
    const config = parseConfig({ monitoring: { anomaly: { enabled: true, check_interval_ms: 10 } } });
    const wiring = createAnomalyWiring({ config, performanceMonitor: createPerformanceMonitor(), vllmUrls: [url], logger: { warn: () => {} } })!;
    try {
      await wiring.check();
      expect(wiring.detector.alerts()).toEqual([]);
      waiting = 80;
      // Built-in `for` is 3 checks (30 ms here).
      for (let index = 0; index < 6; index++) {
        await wiring.check();
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
      expect(wiring.detector.alerts()).toMatchObject([{ rule: 'VllmQueueBacklog', state: 'firing', value: 80 }]);
    } finally {
      await wiring.stop();
      await new Promise((resolve) => vllm.close(resolve));
    }
  });

  it('an unreachable target is a logged, counted delivery failure; the server keeps serving', async () => {
    const warnings: string[] = [];
    const config = parseConfig({
      monitoring: {
        anomaly: {
          enabled: true,
          check_interval_ms: 50,
          rules: [{ name: 'AlwaysOn', metric: 'queue_depth', threshold: -1 }],
          // Port 9 on loopback: connection refused.
          targets: [{ type: 'webhook', url: 'http://127.0.0.1:9/hook' }],
        },
      },
    });
    const wiring = createAnomalyWiring({ config, performanceMonitor: createPerformanceMonitor(), logger: { warn: (message) => warnings.push(message) } })!;
    const engine = new FakeEngine();
    await engine.load({ name: 'fake', path: 'fake' });
    const server = await startServer({ engine, port: 0, metrics: wiring.metrics(undefined), plugins: [wiring.plugin] });
    wiring.start();
    try {
      const deadline = Date.now() + 20_000;
      while (!warnings.some((line) => line.includes('failed')) && Date.now() < deadline) {
        const response = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'fake', prompt: 'a b c' }) });
        expect(response.status).toBe(200);
        await response.text();
      }
      expect(warnings.join('\n')).toMatch(/alert delivery to webhook:127\.0\.0\.1:9 failed \(firing AlwaysOn\).*is reachable/);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain('muai_anomaly_deliveries_total{target="webhook:127.0.0.1:9",outcome="failed"} 1');
      expect(metrics).toContain('muai_anomaly_alerts_total{rule="AlwaysOn",severity="warning"} 1');
      expect((await fetch(`${server.url}/health`)).status).toBe(200);
    } finally {
      await wiring.stop();
      await server.close();
    }
  }, 30_000);
});
