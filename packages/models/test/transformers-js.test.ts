// transformers.js (offline, env.localModelPath) loads the converted folder as any Optimum export
// and generates greedily the same tokens as llama2.c's run.c.
import { basename, dirname, join } from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, env } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertLlama2c, STORIES260K_RUNC_REFERENCE } from '../src/index.js';
import { CHECKPOINT, temporaryFolder, TOKENIZER } from './helpers.js';

const work = temporaryFolder();
const converted = join(work.dir, 'stories260K');

beforeAll(() => {
  convertLlama2c({ checkpoint: CHECKPOINT, tokenizer: TOKENIZER, outDir: converted });
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = `${dirname(converted)}/`;
});
afterAll(() => work.cleanup());

describe('transformers.js on a converted llama2.c model', () => {
  it('tokenizes and generates run.c\'s greedy tokens and text', async () => {
    const tokenizer = await AutoTokenizer.from_pretrained(basename(converted));
    const model = await AutoModelForCausalLM.from_pretrained(basename(converted), { dtype: 'fp32', device: 'cpu' });
    try {
      for (const reference of STORIES260K_RUNC_REFERENCE.filter((r) => r.prompt !== '')) {
        const inputs = tokenizer(reference.prompt);
        const promptIds = (inputs.input_ids.tolist() as bigint[][])[0]!.map(Number);
        expect(promptIds).toEqual(reference.ids.slice(0, reference.promptIdCount));
        const output = await model.generate({ ...inputs, max_new_tokens: reference.ids.length - promptIds.length, do_sample: false });
        const ids = ((output as { tolist(): bigint[][] }).tolist()[0] ?? []).map(Number);
        expect(ids, reference.prompt).toEqual(reference.ids);
        expect(tokenizer.decode(ids, { skip_special_tokens: true })).toBe(reference.text);
      }
    } finally {
      await model.dispose();
    }
  });
});
