import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MuaiError } from '@muai/core';
import { findRepoRoot, registerRunCommand, resolveRunModel } from './run.js';

const repoRoot = resolve(import.meta.dirname, '../../../..');
const tiny = join(repoRoot, 'models/generated/tiny');
const llama = resolve(repoRoot, '../shared/models/tiny-random-llama-fp16');

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
  it('finds the repository root and the default model, MUAI_MODEL and --model override it', () => {
    expect(findRepoRoot(import.meta.dirname)).toBe(repoRoot);
    vi.stubEnv('MUAI_MODEL', '');
    expect(resolveRunModel(undefined)).toEqual({ path: tiny, isDefault: true });
    vi.stubEnv('MUAI_MODEL', llama);
    expect(resolveRunModel(undefined)).toEqual({ path: llama, isDefault: false });
    expect(resolveRunModel('/x/y')).toEqual({ path: '/x/y', isDefault: false });
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

  it.skipIf(!existsSync(tiny))('says plainly that the default model has random weights, and how to pass --model', async () => {
    vi.stubEnv('MUAI_MODEL', '');
    const { stdout, error } = await run('What is AI?', '--max-tokens', '4', '--seed', '1', '--temperature', '0.7', '--top-p', '0.9');
    expect(error).toBeUndefined();
    expect(stdout).toContain('weights are random');
    expect(stdout).toContain('--model DIR');
    expect(stdout).toContain('model tiny');
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
