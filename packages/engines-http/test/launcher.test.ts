import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { findExecutable, launchServer } from '../src/launcher.js';
import type { LaunchedServer } from '../src/launcher.js';
import { disposeAfterEach, freePort } from '../src/testing/index.js';

const fakeServer = fileURLToPath(new URL('./fixtures/fake-server.mjs', import.meta.url));
const track = disposeAfterEach<LaunchedServer>((server) => server.stop());

const healthy = (port: number) => async (signal: AbortSignal) => {
  try {
    return (await fetch(`http://127.0.0.1:${port}/health`, { signal })).ok;
  } catch {
    return false;
  }
};

describe('launchServer (with a fake server executable)', () => {
  it('finds executables on PATH and reports missing ones', () => {
    expect(findExecutable('node')).toBeDefined();
    expect(findExecutable('definitely-not-installed-muai')).toBeUndefined();
    expect(findExecutable('node', '')).toBeUndefined();
  });

  it('fails with ENGINE_UNAVAILABLE and the install hint when the command is missing', async () => {
    await expect(
      launchServer({ engine: 'vllm', command: 'vllm', args: [], env: { PATH: '' }, installHint: 'Install it with `pip install vllm`.', ready: async () => true }),
    ).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE', message: expect.stringContaining('pip install vllm') });
  });

  it('starts the process, streams its log, waits for health, and stops it with SIGTERM', async () => {
    const port = await freePort();
    const lines: string[] = [];
    const server = await launchServer({
      engine: 'vllm',
      command: fakeServer,
      args: ['serve', 'my-model', '--port', String(port)],
      installHint: '',
      env: { ...process.env, FAKE_READY_DELAY_MS: '300' },
      ready: healthy(port),
      pollIntervalMs: 50,
      log: (line, stream) => lines.push(`${stream}: ${line}`),
    });
    track(server);
    expect(await healthy(port)(AbortSignal.timeout(1000))).toBe(true);
    expect(lines).toContain(`stdout: fake-server argv: ${JSON.stringify(['serve', 'my-model', '--port', String(port)])}`);
    expect(lines).toContain('stderr: fake-server: a line on stderr');
    await server.stop();
    expect(server.exited).toBe(true);
    expect(await healthy(port)(AbortSignal.timeout(1000))).toBe(false);
  });

  it('reports a process that exits before it is ready, with its last log lines', async () => {
    await expect(
      launchServer({
        engine: 'vllm',
        command: fakeServer,
        args: ['serve', 'x'],
        installHint: '',
        env: { ...process.env, FAKE_EXIT_CODE: '3' },
        ready: async () => false,
        pollIntervalMs: 20,
      }),
    ).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE', message: expect.stringMatching(/exited before it was ready[\s\S]*fake-server argv/) });
  });

  it('stops a process that is not ready in time, escalating to SIGKILL when SIGTERM is ignored', async () => {
    const port = await freePort();
    await expect(
      launchServer({
        engine: 'vllm',
        command: fakeServer,
        args: ['--port', String(port)],
        installHint: '',
        env: { ...process.env, FAKE_READY_DELAY_MS: '60000', FAKE_IGNORE_TERM: '1' },
        ready: healthy(port),
        startupTimeoutMs: 400,
        pollIntervalMs: 50,
        stopGraceMs: 200,
      }),
    ).rejects.toMatchObject({ code: 'ENGINE_UNAVAILABLE', message: expect.stringContaining('not ready within 400 ms') });
    expect(await healthy(port)(AbortSignal.timeout(500))).toBe(false);
  });
});
