// The bundled default model (stories260K from @muai/models) as a user meets it: the built CLI run
// from a folder that is not the repository, with no MUAI_MODEL; and `muai convert llama2c`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STORIES260K_RUNC_REFERENCE } from '@muai/models';
import { cliBin, repoRoot } from './cli-harness.js';

const assets = join(repoRoot, 'packages/models/assets/stories260K');
let cwd = '';

/** Runs the built `muai ...args` with cwd = a temp folder and MUAI_MODEL unset. */
function muai(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, MUAI_MON_PROMETHEUS_ENABLED: 'false' };
  delete env['MUAI_MODEL'];
  delete env['MUAI_CONFIG'];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliBin, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(() => {
  if (!existsSync(join(repoRoot, 'apps/cli/dist/index.js'))) throw new Error('apps/cli is not built: run `npm run build`');
  cwd = mkdtempSync(join(tmpdir(), 'muai-elsewhere-'));
});
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

describe('the default model, from a folder other than the repository', () => {
  it('muai run "Once upon a time" prints llama2.c run.c\'s greedy story, token for token', async () => {
    const reference = STORIES260K_RUNC_REFERENCE.find((r) => r.prompt === 'Once upon a time')!;
    const generated = reference.ids.length - reference.promptIdCount;
    const { code, stdout, stderr } = await muai(['run', reference.prompt, '--max-tokens', String(generated), '--temperature', '0', '--json']);
    expect(code, stderr).toBe(0);
    const output = JSON.parse(stdout);
    expect(output.token_ids).toEqual(reference.ids.slice(reference.promptIdCount));
    expect(reference.prompt + output.text).toBe(reference.text);
    expect(output.model_source).toMatchObject({ from: 'default', path: join(repoRoot, 'packages/models/default-model/stories260K') });
    const plain = await muai(['run', 'Once upon a time', '--max-tokens', '24']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/^, there was a little girl named Lily\./);
    expect(plain.stdout + plain.stderr).not.toMatch(/random|MODEL_NOT_FOUND/);
  });

  it('muai "What is AI?" answers in English with sources from the docs the CLI ships with', async () => {
    const { code, stdout, stderr } = await muai(['What is AI?', '--json', '--max-tokens', '48']);
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({ workflow: 'search_qa', model: 'default', engine: 'onnx' });
    expect(result.output).toMatch(/\b(the|a|and|was|to|is)\b/);
    expect(result.sources.length).toBeGreaterThan(0);
    // The prompt fit the 512-token window with the answer's 48 tokens to spare.
    expect(result.usage.prompt_tokens + 48).toBeLessThanOrEqual(512);
    expect(result.usage.completion_tokens).toBe(48);
  });

  it('long inputs are fitted into the 512-token window instead of CONTEXT_LENGTH_EXCEEDED', async () => {
    const report = Array.from({ length: 300 }, (_, i) => `Line ${i}: the team shipped a feature and fixed a bug.`).join(' ');
    const summary = await muai([`Summarize: ${report}`, '--workflow', 'summarize', '--max-tokens', '40']);
    expect(summary.code, summary.stderr).toBe(0);
    expect(summary.stderr).toMatch(/cut to its first \d+ of \d+ characters/);
    const chat = await muai([`Tell me a story about ${'a very long and winding road '.repeat(100)}`, '--workflow', 'chat', '--max-tokens', '40']);
    expect(chat.code, chat.stderr).toBe(0);
    expect(chat.stderr).not.toContain('CONTEXT_LENGTH_EXCEEDED');
  });
});

describe('muai convert llama2c', () => {
  it('converts, refuses to overwrite without --force, and reports bad input with codes', async () => {
    const out = join(cwd, 'converted');
    const ok = await muai(['convert', 'llama2c', join(assets, 'stories260K.bin'), '--tokenizer', join(assets, 'tok512.bin'), '--out', out]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toBe(out);
    expect(readdirSync(join(out, 'onnx'))).toEqual(['model.onnx']);
    const again = await muai(['run', 'What is AI?', '--model', out, '--max-tokens', '10', '--temperature', '0', '--json']);
    const reference = STORIES260K_RUNC_REFERENCE.find((r) => r.prompt === 'What is AI?')!;
    expect(JSON.parse(again.stdout).token_ids).toEqual(reference.ids.slice(reference.promptIdCount, reference.promptIdCount + 10));

    const exists = await muai(['convert', 'llama2c', join(assets, 'stories260K.bin'), '--tokenizer', join(assets, 'tok512.bin'), '--out', out]);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toMatch(/error INVALID_REQUEST: .*already exists.*--force/);
    const forced = await muai(['convert', 'llama2c', join(assets, 'stories260K.bin'), '--tokenizer', join(assets, 'tok512.bin'), '--out', out, '--force', '--json']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(forced.stdout)).toMatchObject({ out, params: 260032 });

    const truncated = join(cwd, 'truncated.bin');
    writeFileSync(truncated, readFileSync(join(assets, 'stories260K.bin')).subarray(0, 500_000));
    const bad = await muai(['convert', 'llama2c', truncated, '--tokenizer', join(assets, 'tok512.bin'), '--out', join(cwd, 'never')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/error MODEL_INVALID: .*truncated/);
    expect(existsSync(join(cwd, 'never'))).toBe(false);
    expect(readdirSync(cwd).filter((name) => name.includes('converting'))).toEqual([]);
  });
});
