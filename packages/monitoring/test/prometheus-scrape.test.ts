import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PrometheusExporter } from '../src/index.js';
import { requireBinary } from './helpers/binaries.js';
import { freePort } from '@muai/core/testing';


interface QueryResult {
  status: string;
  data?: { result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('a real Prometheus server (Debian package) scraping the exporter', () => {
  it('reads a muai_ series back through its query API', async () => {
    const binary = requireBinary('prometheus');
    const exporter = new PrometheusExporter({ port: 0 });
    exporter.recordRequest({ model: 'tiny-gpt2', engine: 'onnx', workflow: 'chat', status: 'success', latencyMs: 42, promptTokens: 5, completionTokens: 7 });
    exporter.recordRequest({ model: 'tiny-gpt2', engine: 'onnx', workflow: 'chat', status: 'success', latencyMs: 58 });
    const { port: exporterPort } = await exporter.startServer();
    cleanups.push(() => exporter.stopServer());

    const dir = mkdtempSync(join(tmpdir(), 'muai-prometheus-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  evaluation_interval: 1s',
        'scrape_configs:',
        '  - job_name: muai',
        '    scrape_interval: 1s',
        '    static_configs:',
        `      - targets: ['127.0.0.1:${exporterPort}']`,
        '',
      ].join('\n'),
    );
    const prometheusPort = await freePort();
    let log = '';
    const child: ChildProcess = spawn(
      binary,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${prometheusPort}`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    });

    const query = `http://127.0.0.1:${prometheusPort}/api/v1/query?query=${encodeURIComponent('muai_requests_total')}`;
    let found: QueryResult['data'] | undefined;
    for (let attempt = 0; attempt < 120 && !found; attempt++) {
      if (child.exitCode !== null) throw new Error(`prometheus exited early (code ${child.exitCode}):\n${log}`);
      try {
        const response = await fetch(query);
        if (response.ok) {
          const body = (await response.json()) as QueryResult;
          if (body.status === 'success' && body.data && body.data.result.length > 0) found = body.data;
        }
      } catch {
        // Not listening yet.
      }
      if (!found) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(found, `no muai_requests_total series after 30 s; prometheus log:\n${log}`).toBeDefined();
    const series = found?.result[0];
    expect(series?.metric).toMatchObject({
      __name__: 'muai_requests_total',
      job: 'muai',
      model: 'tiny-gpt2',
      engine: 'onnx',
      workflow: 'chat',
      status: 'success',
    });
    expect(Number(series?.value[1])).toBe(2);
  });
});
