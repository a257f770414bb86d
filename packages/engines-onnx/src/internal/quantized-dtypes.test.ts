import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOnnxEngine } from '../onnx-engine.js';
import type { OnnxEngine } from '../onnx-engine.js';

const GENERATOR = resolve(import.meta.dirname, '../../../../tools/model-gen/generate.mjs');
const PROMPT = 'The history of computing is a long story of people building machines.';

// The quantized files model-gen writes as Optimum / transformers.js exports name them
// (model_quantized.onnx: DynamicQuantizeMatMul; model_q4.onnx: MatMulNBits), loaded by `dtype`.
describe('quantized dtypes q8 and q4 (generated tiny model)', () => {
  let work: string;
  let dir: string;
  let engine: OnnxEngine;
  beforeAll(async () => {
    if (!existsSync(GENERATOR)) throw new Error(`${GENERATOR} is missing: these tests need tools/model-gen`);
    work = mkdtempSync(join(tmpdir(), 'muai-onnx-quantized-'));
    dir = join(work, 'tiny-q');
    const { generateModel } = (await import(pathToFileURL(GENERATOR).href)) as {
      generateModel(options: { size: string; outDir: string; dtype: string; log: (line: string) => void }): unknown;
    };
    for (const dtype of ['fp32', 'q8', 'q4']) generateModel({ size: 'tiny', outDir: dir, dtype, log: () => undefined });
    engine = createOnnxEngine({ intraOpNumThreads: 1 });
  });
  afterAll(async () => {
    await engine?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('picks the file by dtype and generates the greedy tokens transformers.js generates from the same file', async () => {
    const { env, AutoModelForCausalLM, AutoTokenizer } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = `${work}/`;
    const tokenizer = await AutoTokenizer.from_pretrained('tiny-q');
    for (const [dtype, file] of [['q8', 'model_quantized.onnx'], ['q4', 'model_q4.onnx']] as const) {
      await engine.load({ name: dtype, path: dir, dtype });
      expect(engine.describeModel(dtype)).toMatchObject({ dtype });
      expect(engine.describeModel(dtype).graphPath.endsWith(join('onnx', file))).toBe(true);
      const ours = await engine.generate({ model: dtype, prompt: PROMPT, maxTokens: 16, temperature: 0 });
      const model = await AutoModelForCausalLM.from_pretrained('tiny-q', { dtype, device: 'cpu' });
      try {
        const inputs = tokenizer(PROMPT);
        const length = (inputs.input_ids as { dims: number[] }).dims[1]!;
        const output = (await model.generate({ ...inputs, max_new_tokens: 16, do_sample: false })) as { tolist(): unknown[][] };
        expect(ours.tokenIds, dtype).toEqual((output.tolist()[0] as Array<number | bigint>).slice(length).map(Number));
      } finally {
        await model.dispose();
      }
    }
  });
});
