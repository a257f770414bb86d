import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOnnxEngine } from '../src/index.js';
import type { OnnxEngine } from '../src/index.js';
import { DISTILBERT, LLAMA_FP16, expectCode } from './helpers.js';

const LLAMA_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'onnx'];

describe('bad input gives a coded error, never a crash or a hang', () => {
  let root: string;
  let engine: OnnxEngine;

  /** A copy of the shared llama folder (by symlinks) with some files replaced. */
  function variant(name: string, replace: Record<string, string | null>): string {
    const dir = join(root, name);
    mkdirSync(dir);
    for (const file of LLAMA_FILES) {
      if (file in replace) {
        const content = replace[file];
        if (content !== null && content !== undefined) writeFileSync(join(dir, file), content);
      } else {
        symlinkSync(join(LLAMA_FP16, file), join(dir, file));
      }
    }
    return dir;
  }

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'muai-onnx-bad-'));
    engine = createOnnxEngine({ intraOpNumThreads: 1 });
    await engine.load({ name: 'llama', path: LLAMA_FP16, options: { contextLength: 32 } });
  });
  afterAll(async () => {
    await engine.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('missing folder: MODEL_NOT_FOUND', async () => {
    const error = await expectCode(() => engine.load({ name: 'x', path: join(root, 'does-not-exist') }), 'MODEL_NOT_FOUND');
    expect(error.message).toContain('does-not-exist');
  });

  it('malformed config.json: MODEL_INVALID naming the file', async () => {
    const error = await expectCode(() => engine.load({ name: 'x', path: variant('bad-config', { 'config.json': '{"model_type": "llama",' }) }), 'MODEL_INVALID');
    expect(error.message).toContain('config.json');
  });

  it('malformed or missing tokenizer.json: MODEL_INVALID naming the file', async () => {
    const broken = await expectCode(() => engine.load({ name: 'x', path: variant('bad-tokenizer', { 'tokenizer.json': '{"model": 42' }) }), 'MODEL_INVALID');
    expect(broken.message).toContain('tokenizer.json');
    const wrongShape = await expectCode(() => engine.load({ name: 'x', path: variant('odd-tokenizer', { 'tokenizer.json': '{"model": {"type": "Nope"}}' }) }), 'MODEL_INVALID');
    expect(wrongShape.message).toContain('tokenizer.json');
    const missing = await expectCode(() => engine.load({ name: 'x', path: variant('no-tokenizer', { 'tokenizer.json': null }) }), 'MODEL_INVALID');
    expect(missing.message).toContain('tokenizer.json');
  });

  it('a graph whose inputs do not match the LM layout: MODEL_INVALID listing what is missing', async () => {
    const dir = variant('bert-graph', { onnx: null });
    mkdirSync(join(dir, 'onnx'));
    symlinkSync(join(DISTILBERT, 'onnx/model.onnx'), join(dir, 'onnx/model.onnx'));
    const error = await expectCode(() => engine.load({ name: 'x', path: dir }), 'MODEL_INVALID');
    expect(error.message).toContain('past_key_values.0.key');
    expect(engine.models()).toEqual(['llama']);
  });

  it('a corrupt graph file: MODEL_LOAD_FAILED', async () => {
    const dir = variant('corrupt-graph', { onnx: null });
    mkdirSync(join(dir, 'onnx'));
    writeFileSync(join(dir, 'onnx/model.onnx'), 'not a protobuf at all');
    await expectCode(() => engine.load({ name: 'x', path: dir }), 'MODEL_LOAD_FAILED');
  });

  it('a dtype with no file: MODEL_NOT_FOUND naming the files that exist', async () => {
    const fp32 = await expectCode(() => engine.load({ name: 'x', path: LLAMA_FP16, dtype: 'fp32' }), 'MODEL_NOT_FOUND');
    expect(fp32.message).toContain('model.onnx');
    expect(fp32.message).toContain('model_fp16.onnx');
    const q8 = await expectCode(() => engine.load({ name: 'x', path: LLAMA_FP16, loadIn8bit: true }), 'MODEL_NOT_FOUND');
    expect(q8.message).toContain('model_quantized.onnx');
    await expectCode(() => engine.load({ name: 'x', path: LLAMA_FP16, dtype: 'fp7' }), 'MODEL_INVALID');
    const fp16 = await engine.load({ name: 'explicit', path: LLAMA_FP16, dtype: 'fp16' });
    expect(fp16.kind).toBe('causal-lm');
    await engine.unload('explicit');
  });

  it('messages for a model without a chat template: INVALID_REQUEST saying to send a prompt', async () => {
    const dir = variant('no-template', { 'tokenizer_config.json': '{"bos_token": "<s>", "eos_token": "</s>"}' });
    const other = createOnnxEngine();
    await other.load({ name: 'plain', path: dir });
    const error = await expectCode(() => other.generate({ messages: [{ role: 'user', content: 'hi' }] }), 'INVALID_REQUEST');
    expect(error.message).toContain('prompt');
    expect((await other.generate({ prompt: 'hi', maxTokens: 2 })).usage.completionTokens).toBe(2);
    await other.close();
  });

  it('a prompt longer than the context: CONTEXT_LENGTH_EXCEEDED', async () => {
    const error = await expectCode(() => engine.generate({ prompt: 'word '.repeat(40) }), 'CONTEXT_LENGTH_EXCEEDED');
    expect(error.details).toMatchObject({ contextLength: 32 });
    await expectCode(() => engine.stream({ prompt: 'word '.repeat(40) })[Symbol.asyncIterator]().next(), 'CONTEXT_LENGTH_EXCEEDED');
  });

  it('maxTokens out of range, bad sampling values, prompt and messages together: INVALID_REQUEST', async () => {
    for (const maxTokens of [0, -1, 33, 2.5, Number.NaN]) {
      await expectCode(() => engine.generate({ prompt: 'hi', maxTokens }), 'INVALID_REQUEST');
    }
    await expectCode(() => engine.generate({ prompt: 'hi', temperature: -1 }), 'INVALID_REQUEST');
    await expectCode(() => engine.generate({ prompt: 'hi', topP: 0 }), 'INVALID_REQUEST');
    await expectCode(() => engine.generate({ prompt: 'hi', topK: 1.5 }), 'INVALID_REQUEST');
    await expectCode(() => engine.generate({ prompt: 'hi', stopTokenIds: [32000] }), 'INVALID_REQUEST');
    await expectCode(() => engine.generate({ prompt: 'hi', messages: [{ role: 'user', content: 'hi' }] }), 'INVALID_REQUEST');
    await expectCode(() => engine.generate({}), 'INVALID_REQUEST');
    await expectCode(() => engine.generate({ model: 'unknown', prompt: 'hi' }), 'MODEL_NOT_FOUND');
    // The engine still works after all of that.
    expect((await engine.generate({ prompt: 'hi', maxTokens: 2 })).usage.completionTokens).toBe(2);
  });
});
