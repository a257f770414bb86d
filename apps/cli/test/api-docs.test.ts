/**
 * `npm run docs` (TypeDoc over every package's public surface, typedoc.json at the root) must
 * build without a warning: typedoc.json sets treatWarningsAsErrors, so a broken {@link}, a missing
 * entry point or a package that does not convert fails this test. Output goes to a temporary folder.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './cli-harness.js';

/** Runs a command without blocking the test worker (a blocked worker misses vitest's RPC deadlines). */
function run(command: string, args: readonly string[]): Promise<{ status: number | null; output: string }> {
  return new Promise((done, reject) => {
    const child = spawn(command, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => done({ status, output }));
  });
}

describe('API reference (TypeDoc)', () => {
  it('builds for every package with no warning', async () => {
    const out = mkdtempSync(join(tmpdir(), 'muai-api-docs-'));
    try {
      const typedoc = join(repoRoot, 'node_modules/.bin/typedoc');
      const { status, output } = await run(typedoc, ['--out', out]);
      expect(status, output).toBe(0);
      expect(output).not.toMatch(/\[warning\]|\[error\]/);
      const modules = readFileSync(join(out, 'modules.html'), 'utf8');
      const packages = JSON.parse(readFileSync(join(repoRoot, 'typedoc.json'), 'utf8')) as { entryPoints: string[] };
      expect(packages.entryPoints).toEqual(['packages/*', 'apps/server', 'apps/cli']);
      for (const name of ['@muai/core', '@muai/config', '@muai/engines-onnx', '@muai/orchestrator', '@muai/monitoring', '@muai/server', '@muai/cli']) {
        expect(modules, `${name} is in the reference`).toContain(name);
      }
      expect(existsSync(join(out, 'index.html'))).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 600_000);
});
