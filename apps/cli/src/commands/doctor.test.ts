import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../test/cli-harness.js';
import { checkNodeVersion, runDoctor, type DoctorCheck } from './doctor.js';

const repoRoot = resolve(import.meta.dirname, '../../../..');
const servers: Server[] = [];

/** A TCP listener on a free loopback port, closed after the test. */
async function listen(): Promise<number> {
  const server = createServer((socket) => socket.end());
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return (server.address() as { port: number }).port;
}

/** A loopback port that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const port = await listen();
  await new Promise((done) => servers.pop()!.close(done));
  return port;
}

function clearMuaiEnvironment(): void {
  for (const name of Object.keys(process.env)) if (name.startsWith('MUAI_')) vi.stubEnv(name, undefined);
}

const byName = (checks: readonly DoctorCheck[], name: string) => checks.find((check) => check.name === name);

beforeEach(() => {
  clearMuaiEnvironment();
  // Port 8000 may be taken by another program on a developer's machine; 0 is always free.
  vi.stubEnv('MUAI_MON_SERVER_PORT', '0');
  vi.spyOn(process, 'cwd').mockReturnValue(repoRoot);
  process.exitCode = undefined;
});

afterEach(async () => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
  process.exitCode = undefined;
  await Promise.all(servers.splice(0).map((server) => new Promise((done) => server.close(done))));
});

describe('muai doctor', () => {
  it('passes on this machine with the default config: Node, onnxruntime-node, config, default model', async () => {
    const { code, stdout } = await runCli(['doctor']);
    expect(code, stdout).toBe(0);
    expect(stdout).toMatch(/^CHECK +STATUS +DETAIL/);
    expect(stdout).toMatch(/node +OK +Node \d+\.\d+\.\d+ \(needs >=20\.11\)/);
    expect(stdout).toMatch(/onnxruntime-node +OK +loads \(backends: .*cpu/);
    expect(stdout).toMatch(/config +OK +valid \(.*; from the environment: MUAI_MON_SERVER_PORT\)/);
    // The default model (the one bundled with @muai/models, unless MUAI_MODEL says otherwise) resolves.
    expect(stdout).toMatch(/model default +OK +\/\S+/);
    expect(stdout).toContain('All checks passed.');
  });

  it('fails with a fix when the port is taken, the model is missing and the OTLP collector is down (--json)', async () => {
    const taken = await listen();
    vi.stubEnv('MUAI_MON_SERVER_PORT', String(taken));
    vi.stubEnv('MUAI_MON_SERVER_HOST', '127.0.0.1');
    vi.stubEnv('MUAI_MODEL', join(tmpdir(), 'muai-no-such-model'));
    vi.stubEnv('MUAI_MON_TRACING_ENABLED', 'true');
    vi.stubEnv('MUAI_MON_TRACING_ENDPOINT', `http://127.0.0.1:${await closedPort()}`);
    const { code, stdout } = await runCli(['doctor', '--json', '--timeout', '500']);
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as { ok: boolean; checks: DoctorCheck[] };
    expect(report.ok).toBe(false);
    expect(byName(report.checks, 'port server')).toMatchObject({ status: 'fail', detail: `127.0.0.1:${taken} is in use`, fix: expect.stringContaining('MUAI_MON_SERVER_PORT') });
    expect(byName(report.checks, 'model default')).toMatchObject({ status: 'fail', fix: expect.stringContaining('MUAI_MODEL') });
    expect(byName(report.checks, 'endpoint otlp')).toMatchObject({ status: 'fail', detail: expect.stringContaining('ECONNREFUSED'), fix: expect.stringContaining('collector') });
    expect(byName(report.checks, 'config')?.status).toBe('ok');
  });

  it('reaches the configured vLLM endpoints, Alertmanager and a Prometheus server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'muai-doctor-'));
    const vllm = await listen();
    const alertmanager = await listen();
    const prometheus = await listen();
    const down = await closedPort();
    writeFileSync(
      join(dir, 'optimization.yaml'),
      [
        'optimization:',
        '  vllm:',
        '    enabled: true',
        `    endpoints: ["http://127.0.0.1:${vllm}", "http://127.0.0.1:${down}"]`,
        'monitoring:',
        '  anomaly:',
        '    enabled: true',
        `    targets: [{type: webhook, format: alertmanager, url: "http://127.0.0.1:${alertmanager}/api/v2/alerts"}]`,
        '',
      ].join('\n'),
    );
    const checks = await runDoctor({ files: [join(dir, 'optimization.yaml')], prometheusUrl: `http://127.0.0.1:${prometheus}`, timeoutMs: 500 });
    const endpoints = checks.filter((check) => check.name.startsWith('endpoint '));
    expect(endpoints.map((check) => [check.name, check.status])).toEqual([
      ['endpoint vllm', 'ok'],
      ['endpoint vllm', 'fail'],
      ['endpoint alertmanager', 'ok'],
      ['endpoint prometheus', 'ok'],
    ]);
    const skipped = await runDoctor({ files: [join(dir, 'optimization.yaml')], skipNetwork: true });
    expect(skipped.filter((check) => check.name.startsWith('endpoint ')).every((check) => check.status === 'skip')).toBe(true);
  });

  it('reports an invalid config with its problem and skips what depends on it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'muai-doctor-'));
    writeFileSync(join(dir, 'bad.yaml'), 'optimization:\n  batcher:\n    max_batch_size: -3\n');
    const { code, stdout } = await runCli(['doctor', '-c', join(dir, 'bad.yaml')]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/config +FAIL +CONFIG_INVALID: .*\n +- .*bad\.yaml:3: optimization\.batcher\.max_batch_size/);
    expect(stdout).toContain('config: Fix the keys listed');
    expect(stdout).toContain('1 check failed.');
  });

  it("checks that muai serve's log file can be written", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'muai-doctor-'));
    vi.stubEnv('MUAI_MON_LOGGING_FILE', join(dir, 'logs/muai.log'));
    expect(byName(await runDoctor({ skipNetwork: true }), 'log file')).toMatchObject({ status: 'ok', detail: `${join(dir, 'logs/muai.log')} is writable` });
    chmodSync(dir, 0o500);
    try {
      // root may write anywhere: the failure is only observable for an ordinary user.
      const check = byName(await runDoctor({ skipNetwork: true }), 'log file')!;
      if (process.getuid?.() === 0) expect(check.status).toBe('ok');
      else expect(check).toMatchObject({ status: 'fail', fix: expect.stringContaining('MUAI_MON_LOGGING_FILE') });
    } finally {
      chmodSync(dir, 0o700);
    }
    // Under a regular file no folder can be made, whoever runs it.
    writeFileSync(join(dir, 'not-a-folder'), '');
    vi.stubEnv('MUAI_MON_LOGGING_FILE', join(dir, 'not-a-folder/logs/muai.log'));
    expect(byName(await runDoctor({ skipNetwork: true }), 'log file')).toMatchObject({ status: 'fail', detail: expect.stringContaining('is a file, not a folder'), fix: expect.stringContaining('MUAI_MON_LOGGING_FILE') });
    vi.stubEnv('MUAI_MON_LOGGING_FILE', '-');
    expect(byName(await runDoctor({ skipNetwork: true }), 'log file')?.status).toBe('skip');
  });

  it('reports onnxruntime-node that does not load, and a Node older than engines.node', async () => {
    const checks = await runDoctor({
      skipNetwork: true,
      loadOnnxRuntime: () => Promise.reject(new Error('libonnxruntime.so.1: cannot open shared object file')),
    });
    expect(byName(checks, 'onnxruntime-node')).toMatchObject({ status: 'fail', detail: expect.stringContaining('libonnxruntime.so.1'), fix: expect.stringContaining('npm ci') });
    expect(checkNodeVersion('18.19.0', '>=20.11')).toMatchObject({ status: 'fail', fix: expect.stringContaining('20.11') });
    expect(checkNodeVersion('20.11.0', '>=20.11').status).toBe('ok');
    expect(checkNodeVersion('22.1.0', '>=20.11').status).toBe('ok');
  });
});
