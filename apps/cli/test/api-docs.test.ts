/**
 * `npm run docs` (TypeDoc over every package's public surface, typedoc.json at the root) must
 * build without a warning: typedoc.json sets treatWarningsAsErrors, so a broken {@link}, a missing
 * entry point or a package that does not convert fails this test. Output goes to a temporary folder.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './cli-harness.js';

describe('API reference (TypeDoc)', () => {
  it('builds for every package with no warning', () => {
    const out = mkdtempSync(join(tmpdir(), 'muai-api-docs-'));
    try {
      const typedoc = join(repoRoot, 'node_modules/.bin/typedoc');
      const result = spawnSync(typedoc, ['--out', out], { cwd: repoRoot, encoding: 'utf8', timeout: 540_000 });
      const output = `${result.stdout}${result.stderr}`;
      expect(result.status, output).toBe(0);
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
