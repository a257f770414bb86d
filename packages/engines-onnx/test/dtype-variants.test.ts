import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOnnxEngine } from '../src/index.js';
import type { OnnxEngine } from '../src/index.js';
import { REPO_ROOT, expectCode, transformersGreedy } from './helpers.js';

const GENERATOR = resolve(REPO_ROOT, 'tools/model-gen/generate.mjs');
const HAS_GENERATOR = existsSync(GENERATOR);
if (!HAS_GENERATOR) console.warn(`[engines-onnx tests] ${GENERATOR} is absent: dtype-variant tests are SKIPPED.`);

// A tiny model written twice into one folder (fp32 and fp16 graphs side by side, the fp16 one
// without contrib ops): dtype choice, and fp16 KV/logits on a plain-op graph.
describe.skipIf(!HAS_GENERATOR)('a folder with fp32 and fp16 graphs (generated)', () => {
  let dir: string;
  let engine: OnnxEngine;
  beforeAll(async () => {
    dir = join(mkdtempSync(join(tmpdir(), 'muai-onnx-dtype-')), 'tiny-both');
    const { generateModel } = (await import(pathToFileURL(GENERATOR).href)) as {
      generateModel(options: { size: string; outDir: string; dtype: string; log: (line: string) => void }): unknown;
    };
    generateModel({ size: 'tiny', outDir: dir, dtype: 'fp32', log: () => undefined });
    generateModel({ size: 'tiny', outDir: dir, dtype: 'fp16', log: () => undefined });
    engine = createOnnxEngine({ intraOpNumThreads: 1 });
  });
  afterAll(async () => {
    await engine.close();
    rmSync(resolve(dir, '..'), { recursive: true, force: true });
  });

  it('picks model.onnx without a dtype, model_fp16.onnx with dtype fp16, and names the files for a missing q8', async () => {
    await engine.load({ name: 'auto', path: dir });
    expect(engine.describeModel('auto')).toMatchObject({ dtype: 'fp32' });
    expect(engine.describeModel('auto').graphPath).toMatch(/onnx\/model\.onnx$/);
    await engine.load({ name: 'half', path: dir, dtype: 'fp16' });
    expect(engine.describeModel('half').graphPath).toMatch(/model_fp16\.onnx$/);
    const error = await expectCode(() => engine.load({ name: 'q8', path: dir, loadIn8bit: true }), 'MODEL_NOT_FOUND');
    expect(error.message).toContain('model_quantized.onnx');
    expect(error.message).toMatch(/model\.onnx, model_fp16\.onnx/);
  });

  it('fp16 greedy output equals transformers.js (dtype fp16) token for token', async () => {
    const prompt = 'Hello world';
    const theirs = await transformersGreedy(dir, 'fp16', prompt, 30);
    const ours = await engine.generate({ model: 'half', prompt, maxTokens: 30 });
    expect(ours.tokenIds).toEqual(theirs);
  });
});
