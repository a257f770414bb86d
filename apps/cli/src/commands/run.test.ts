import { resolve } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MuaiError } from '@muai/core';
import { defaultModelPath, STORIES260K_RUNC_REFERENCE } from '@muai/models';
import { registerRunCommand, resolveRunModel } from './run.js';

const repoRoot = resolve(import.meta.dirname, '../../../..');
const llama = resolve(repoRoot, 'packages/engines-onnx/test/fixtures/models/tiny-random-llama-fp16');

/** Runs `muai run ...args` on a program holding only the run command, with captured output. */
async function run(...args: string[]): Promise<{ stdout: string; stderr: string; error?: unknown }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  const program = new Command('muai').exitOverride();
  registerRunCommand(program);
  try {
    await program.parseAsync(['node', 'muai', 'run', ...args]);
    return { stdout, stderr };
  } catch (error) {
    return { stdout, stderr, error };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

afterEach(() => vi.unstubAllEnvs());

describe('muai run', () => {
  it('uses the default model bundled with @muai/models; MUAI_MODEL and --model override it', () => {
    vi.stubEnv('MUAI_MODEL', '');
    expect(resolveRunModel(undefined)).toEqual({ path: defaultModelPath(), origin: 'default', isDefault: true });
    vi.stubEnv('MUAI_MODEL', llama);
    expect(resolveRunModel(undefined)).toEqual({ path: llama, origin: 'MUAI_MODEL', isDefault: false });
    expect(resolveRunModel('/x/y')).toEqual({ path: '/x/y', origin: '--model', isDefault: false });
  });

  it('--json prints one object with text, finish_reason, usage, engine, model, timings', async () => {
    const { stdout, error } = await run('Hello world', '--model', llama, '--max-tokens', '32', '--raw', '--json');
    expect(error).toBeUndefined();
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const output = JSON.parse(lines[0]!);
    expect(output).toMatchObject({ finish_reason: 'length', usage: { prompt_tokens: 3, completion_tokens: 32 }, engine: 'onnx', model: 'tiny-random-llama-fp16' });
    expect(Object.keys(output.timings).sort()).toEqual(['tokens_per_s', 'total_ms', 'ttft_ms']);
    expect(typeof output.text).toBe('string');
  });

  it('--stream prints the same answer as without, then the summary line', async () => {
    const plain = await run('What is AI?', '--model', llama, '--max-tokens', '12');
    const streamed = await run('What is AI?', '--model', llama, '--max-tokens', '12', '--stream');
    const answer = (stdout: string) => stdout.slice(0, stdout.lastIndexOf('\n-- '));
    expect(answer(streamed.stdout)).toBe(answer(plain.stdout));
    expect(answer(plain.stdout).length).toBeGreaterThan(0);
    expect(plain.stdout).toMatch(/-- 12 tokens \(prompt \d+\) \| ttft \d+ ms \| [\d.]+ tokens\/s \| engine onnx \| model tiny-random-llama-fp16 \| finish length\n$/);
    expect(plain.stdout).not.toContain('random weights');
  });

  it('the default model is stories260K: greedy output equals llama2.c run.c\'s reference text and token ids (no chat template)', async () => {
    vi.stubEnv('MUAI_MODEL', '');
    for (const reference of STORIES260K_RUNC_REFERENCE.filter((r) => r.prompt !== '')) {
      const generated = reference.ids.length - reference.promptIdCount;
      const { stdout, stderr, error } = await run(reference.prompt, '--max-tokens', String(generated), '--temperature', '0', '--json');
      expect(error).toBeUndefined();
      const output = JSON.parse(stdout.trim());
      expect(output.token_ids).toEqual(reference.ids.slice(reference.promptIdCount));
      expect(output.usage).toEqual({ prompt_tokens: reference.promptIdCount, completion_tokens: generated });
      // The engine returns the continuation only. SentencePiece decoding drops the space that starts
      // a decoded sequence (run.c keeps it: it prints after the prompt), so compare modulo that space.
      expect(`${reference.prompt}${output.text}`).toBe(reference.text.replace(`${reference.prompt} `, reference.prompt));
      expect(output.model).toBe('stories260K');
      expect(output.model_source).toMatchObject({ from: 'default', path: defaultModelPath() });
      expect(output.model_source.description).toMatch(/260K-parameter/);
      expect(stderr).not.toContain('random');
    }
    const plain = await run('Once upon a time', '--max-tokens', '8', '--temperature', '0');
    expect(plain.stdout).toMatch(/^, there was a little girl\n/);
    expect(plain.stdout).toContain('| model stories260K |');
    expect(plain.stderr).toMatch(/stories260K, a 260K-parameter TinyStories model/);
    expect(plain.stdout + plain.stderr).not.toContain('random');
  });

  it('bad numbers and missing models are coded errors', async () => {
    const bad = await run('hi', '--model', llama, '--max-tokens', 'many');
    expect(MuaiError.hasCode(bad.error, 'INVALID_REQUEST')).toBe(true);
    const missing = await run('hi', '--model', '/nonexistent/model');
    expect(MuaiError.hasCode(missing.error, 'MODEL_NOT_FOUND')).toBe(true);
    const tooMany = await run('hi', '--model', llama, '--max-tokens', '999999');
    expect(MuaiError.hasCode(tooMany.error, 'INVALID_REQUEST')).toBe(true);
  });
});
