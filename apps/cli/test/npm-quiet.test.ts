/**
 * `npx muai ...` in the repository prints nothing but muai's own output: no npm warning about the
 * project's .npmrc (onnxruntime-node's install script is denied through package.json's
 * allowScripts, npm's own install-script policy, instead of an unknown .npmrc key).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './cli-harness.js';
import packageJson from '../package.json' with { type: 'json' };

function npx(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, reject) => {
    // npm's weekly "new version available" notice is about npm, not this project: off for the test.
    const child = spawn('npx', [...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, npm_config_update_notifier: 'false' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('npx muai', () => {
  it('prints the version and no npm warning', async () => {
    const { code, stdout, stderr } = await npx(['muai', '--version']);
    expect(code, stderr).toBe(0);
    expect(stdout.trim()).toBe(packageJson.version);
    expect(stderr).toBe('');
  });

  it('keeps onnxruntime-node from downloading CUDA binaries through allowScripts, with no unknown key in .npmrc', () => {
    const root = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
    expect(root.allowScripts?.['onnxruntime-node']).toBe(false);
    const keys = readFileSync(join(repoRoot, '.npmrc'), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '' && !line.startsWith('#'))
      .map((line) => line.split('=')[0]!.trim());
    expect(keys).not.toContain('onnxruntime-node-install');
  });
});
