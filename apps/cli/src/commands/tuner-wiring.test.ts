import { describe, expect, it } from 'vitest';
import { parseConfig } from '@muai/config';
import { FakeEngine } from '@muai/core/testing';
import { createPrometheusExporter } from '@muai/monitoring';
import { startServer } from '@muai/server';
import { createTunerWiring, withTuner } from './tuner-wiring.js';

const quiet = { warn: () => {}, info: () => {} };

function record(latencyMs: number) {
  return { model: 'fake', engine: 'fake', status: 'success' as const, latencyMs, promptTokens: 3, completionTokens: 4 };
}

describe('createTunerWiring', () => {
  it('is off unless optimization.tuner.enabled (and optimization.enabled, and mode online)', () => {
    expect(createTunerWiring({ config: parseConfig({}), logger: quiet })).toBeUndefined();
    expect(createTunerWiring({ config: parseConfig({ optimization: { enabled: false, tuner: { enabled: true } } }), logger: quiet })).toBeUndefined();
    expect(createTunerWiring({ config: parseConfig({ optimization: { tuner: { enabled: true, mode: 'offline' } } }), logger: quiet })).toBeUndefined();
  });

  it('leaves out knobs with nothing to act on, and says why', () => {
    const lines: string[] = [];
    const logger = { warn: (m: string) => lines.push(m), info: (m: string) => lines.push(m) };
    const wiring = createTunerWiring({ config: parseConfig({ optimization: { tuner: { enabled: true, parameters: ['max_batch_size', 'batch_timeout_ms', 'cache_max_memory_mb'] } } }), logger })!;
    expect(wiring.tuner.parameters).toEqual(['max_batch_size']);
    expect(lines.join('\n')).toMatch(/batch_timeout_ms is not tuned: optimization.batcher is off/);
    expect(lines.join('\n')).toMatch(/cache_max_memory_mb is not tuned online/);
  });

  it('logs a hold once, not at every interval while nothing changes', async () => {
    const lines: string[] = [];
    const wiring = createTunerWiring({ config: parseConfig({ optimization: { tuner: { enabled: true } } }), logger: { warn: (m) => lines.push(m), info: (m) => lines.push(m) } })!;
    for (let i = 0; i < 3; i++) expect(await wiring.step()).toMatchObject([{ direction: 'hold' }]);
    expect(lines.filter((line) => line.startsWith('tuner: hold'))).toEqual(['tuner: hold: 0 requests in the window, fewer than 5: too little to judge']);
  });

  it('on a breach lowers the limits of the batchers it built and of the engine, logs the reason and counts it', async () => {
    const lines: string[] = [];
    const exporter = createPrometheusExporter({ collectDefaultMetrics: false });
    const config = parseConfig({ optimization: { batcher: { enabled: true, max_batch_size: 20, batch_timeout_ms: 40 }, tuner: { enabled: true, target_p99_latency_ms: 100, interval_ms: 60_000 } } });
    const limits: unknown[] = [];
    const engineLimits: unknown[] = [];
    const fakeBatcherModule = { createBatcher: (options: Record<string, unknown>) => ({ options, submit: async () => ({}), setLimits: (l: unknown) => limits.push(l) }) };
    const wiring = createTunerWiring({ config, exporter, logger: { warn: (m) => lines.push(m), info: (m) => lines.push(m) }, importModule: async () => fakeBatcherModule })!;
    const created = (await wiring.batcherFactory({ batchFn: async () => [], maxBatchSize: 20, batchTimeoutMs: 40, maxQueueSize: 10 })) as unknown as { options: Record<string, unknown> };
    expect(created.options).toMatchObject({ maxBatchSize: 20, batchTimeoutMs: 40, maxQueueSize: 10 });
    wiring.attach({ optimizationManager: { getEngine: async () => ({ setLimits: (l: unknown) => engineLimits.push(l) }) } as never });
    const metrics = wiring.metrics(undefined);
    for (let i = 0; i < 20; i++) metrics.recordRequest!(record(400));
    const decisions = await wiring.step();
    expect(decisions.map((d) => [d.parameter, d.direction, d.to])).toEqual([
      ['max_batch_size', 'down', 16],
      ['batch_timeout_ms', 'down', 32],
    ]);
    expect(engineLimits).toEqual([{ maxBatchSize: 16 }]);
    expect(limits).toEqual([{ maxBatchSize: 16, batchTimeoutMs: 32 }]);
    expect(lines.join('\n')).toMatch(/tuner: max_batch_size 20 -> 16 \(down\): SLO breached: latency p99 \d+(\.\d)? ms vs SLO 100 ms/);
    const text = await exporter.metrics();
    expect(text).toContain('muai_tuner_setting{parameter="max_batch_size"} 16');
    expect(text).toContain('muai_tuner_adjustments_total{parameter="batch_timeout_ms",direction="down"} 1');
  });

  it('batchers it builds start at the tuned limits and follow them (real @muai/batcher)', async () => {
    const config = parseConfig({ optimization: { batcher: { enabled: true, max_batch_size: 10, batch_timeout_ms: 40 }, tuner: { enabled: true, target_p99_latency_ms: 100 } } });
    const wiring = createTunerWiring({ config, logger: quiet })!;
    const batcher = (await wiring.batcherFactory({ batchFn: async (inputs) => inputs.map(() => new Error('x')), maxBatchSize: 10, batchTimeoutMs: 40, maxQueueSize: 10 })) as unknown as {
      limits(): { maxBatchSize: number; batchTimeoutMs: number };
    };
    expect(batcher.limits()).toMatchObject({ maxBatchSize: 10, batchTimeoutMs: 40 });
    const metrics = wiring.metrics(undefined);
    for (let i = 0; i < 20; i++) metrics.recordRequest!(record(500));
    await wiring.step();
    expect(batcher.limits()).toMatchObject({ maxBatchSize: 8, batchTimeoutMs: 32 });
  });

  it('GET /v1/tuner shows settings and decisions; over the tuned max_concurrency a request gets 429 QUEUE_FULL with Retry-After', async () => {
    const config = parseConfig({ monitoring: { server: { max_concurrent_requests: 8 } }, optimization: { tuner: { enabled: true, parameters: ['max_concurrency'], target_p99_latency_ms: 50, interval_ms: 60_000 } } });
    const wiring = createTunerWiring({ config, logger: quiet })!;
    // It starts at the server's own limit and never goes above it.
    expect(wiring.tuner.state()).toMatchObject({ settings: { max_concurrency: 8 }, bounds: { max_concurrency: { max: 8, step: 1 } } });
    const engine = new FakeEngine({ delayMs: 150 });
    await engine.load({ name: 'fake', path: 'fake' });
    const server = await startServer(withTuner(wiring, { engine, port: 0 }));
    try {
      // Slow requests breach the 50 ms SLO: max_concurrency falls from 8 by × 0.8 (at least one) per step.
      for (let i = 0; i < 20; i++) wiring.metrics(undefined).recordRequest!(record(500));
      for (let i = 0; i < 3; i++) await wiring.step();
      const state = (await (await fetch(`${server.url}/v1/tuner`)).json()) as {
        settings: { max_concurrency: number };
        decisions: Array<{ direction: string; reason: string }>;
        slo: Record<string, unknown>;
        admission: { limit: number; in_flight: number; capacity_rps: number | null; bound: number | null } | null;
      };
      expect(state.settings.max_concurrency).toBe(3);
      expect(state.admission).toEqual({ limit: 3, in_flight: 0, capacity_rps: null, bound: null });
      expect(state.decisions.some((d) => d.direction === 'down' && d.reason.includes('SLO breached'))).toBe(true);
      expect(state.slo).toMatchObject({ target_p99_latency_ms: 50 });
      // Ten requests at once against a limit of 3: three are served, the others refused at once, none waits or fails otherwise.
      const responses = await Promise.all(
        Array.from({ length: 10 }, () => fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'fake', prompt: 'a b c d' }) })),
      );
      const bodies = await Promise.all(responses.map(async (r) => ({ status: r.status, retryAfter: r.headers.get('retry-after'), body: (await r.json()) as { error?: { code?: string } } })));
      const served = bodies.filter((b) => b.status === 200);
      const refused = bodies.filter((b) => b.status === 429);
      expect(served.length).toBe(3);
      expect(refused.length).toBe(7);
      for (const answer of refused) {
        expect(answer.retryAfter).toBe('1');
        expect(answer.body.error?.code).toBe('QUEUE_FULL');
      }
      // Once they ended, the gate has room again.
      const again = await fetch(`${server.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'fake', prompt: 'a b c d' }) });
      expect(again.status).toBe(200);
      await again.text();
    } finally {
      await server.close();
    }
  }, 30_000);
});
