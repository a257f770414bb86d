import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { vi } from 'vitest';
import { main } from '../src/program.js';

export const repoRoot = resolve(import.meta.dirname, '../../..');
export const tinyModel = join(repoRoot, 'models/generated/tiny');
export const cliBin = join(repoRoot, 'apps/cli/bin/muai.mjs');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `muai ...argv` in process with captured output; `onStdout` sees the output so far after each write. */
export async function runCli(argv: readonly string[], onStdout?: (written: string) => void): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    onStdout?.(stdout);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    const code = await main(['node', 'muai', ...argv]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

export interface ServedCli {
  child: ChildProcess;
  url: string;
  logs: () => string;
  exited: Promise<number | null>;
}

/**
 * Spawns the built `muai serve --port 0 ...args` (preloading the default model, MUAI_MODEL = the generated tiny model unless `env` says otherwise, Prometheus's own
 * port off) and resolves once it prints its URL; with `waitReady` also once /ready answers 200.
 */
export async function spawnServe(options: { args?: readonly string[]; env?: Record<string, string>; waitReady?: boolean } = {}): Promise<ServedCli> {
  if (!existsSync(join(tinyModel, 'onnx/model.onnx'))) throw new Error(`missing ${tinyModel}: run \`node tools/model-gen/generate.mjs --size tiny\``);
  if (!existsSync(join(repoRoot, 'apps/cli/dist/index.js'))) throw new Error('apps/cli is not built: run `npm run build`');
  const child = spawn(process.execPath, [cliBin, 'serve', '--port', '0', ...(options.args ?? [])], {
    cwd: repoRoot,
    // The served tests compare with the generated tiny model (its vocabulary, its chat template); the
    // bundled default (stories260K) has its own tests (default-model.test.ts).
    env: { ...process.env, MUAI_MODEL: tinyModel, MUAI_MON_SERVER_PRELOAD_MODELS: 'default', MUAI_MON_PROMETHEUS_ENABLED: 'false', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  child.stdout!.on('data', (data: Buffer) => (logs += data.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const url = await new Promise<string>((resolveUrl, reject) => {
    child.stderr!.on('data', (data: Buffer) => {
      logs += data.toString();
      const match = /serving on (http:\/\/\S+?) /.exec(logs);
      if (match?.[1]) resolveUrl(match[1]);
    });
    void exited.then((code) => reject(new Error(`muai serve exited with ${code}: ${logs}`)));
  });
  if (options.waitReady) {
    const deadline = Date.now() + 30_000;
    while ((await fetch(`${url}/ready`)).status !== 200) {
      if (Date.now() > deadline) throw new Error(`muai serve never became ready: ${logs}`);
      await new Promise((done) => setTimeout(done, 100));
    }
  }
  return { child, url, logs: () => logs, exited };
}
