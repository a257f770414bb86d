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
