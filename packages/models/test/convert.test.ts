import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MuaiError } from '@muai/core';
import { convertLlama2c, decodeModel, STORIES260K_RUNC_REFERENCE } from '../src/index.js';
import { CHECKPOINT, FIXTURES, greedyWithOnnxRuntime, temporaryFolder, TOKENIZER } from './helpers.js';

const work = temporaryFolder();
const converted = join(work.dir, 'stories260K');

beforeAll(() => {
  convertLlama2c({ checkpoint: CHECKPOINT, tokenizer: TOKENIZER, outDir: converted });
});
afterAll(() => work.cleanup());

function loadTokenizer(dir: string): Tokenizer {
  const read = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as Record<string, unknown>;
  return new Tokenizer(read('tokenizer.json'), read('tokenizer_config.json'));
}

describe('convertLlama2c on stories260K', () => {
  it('writes the Optimum layout with a LlamaForCausalLM config taken from the header', () => {
    expect(readdirSync(converted).sort()).toEqual(['config.json', 'generation_config.json', 'muai-model.json', 'onnx', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
    const config = JSON.parse(readFileSync(join(converted, 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 64,
      intermediate_size: 172,
      num_hidden_layers: 5,
      num_attention_heads: 8,
      num_key_value_heads: 4,
      head_dim: 8,
      vocab_size: 512,
      max_position_embeddings: 512,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: true,
    });
    const model = decodeModel(readFileSync(join(converted, 'onnx', 'model.onnx'))) as { graph: { input: Array<{ name: string }>; output: Array<{ name: string }> } };
    const inputs = model.graph.input.map((value) => value.name);
    const outputs = model.graph.output.map((value) => value.name);
    expect(inputs.slice(0, 3)).toEqual(['input_ids', 'attention_mask', 'position_ids']);
    expect(inputs).toContain('past_key_values.4.value');
    expect(outputs).toEqual(['logits', ...[0, 1, 2, 3, 4].flatMap((l) => [`present.${l}.key`, `present.${l}.value`])]);
    const manifest = JSON.parse(readFileSync(join(converted, 'muai-model.json'), 'utf8'));
    expect(manifest.source.checkpoint.sha256).toBe('b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696');
    expect(manifest.params).toBe(260032);
  });

  it('tokenizes the reference prompts to run.c\'s ids', () => {
    const tokenizer = loadTokenizer(converted);
    for (const reference of STORIES260K_RUNC_REFERENCE.filter((r) => r.prompt !== '')) {
      expect(tokenizer.encode(reference.prompt).ids).toEqual(reference.ids.slice(0, reference.promptIdCount));
    }
    // Decoding everything run.c produced gives run.c's text (the BOS-following space is stripped as run.c does).
    for (const reference of STORIES260K_RUNC_REFERENCE) {
      expect(tokenizer.decode([...reference.ids], { skip_special_tokens: true })).toBe(reference.text);
    }
  });

  it('generates run.c\'s greedy token ids with plain onnxruntime (RoPE pairing, GQA, tied classifier)', async () => {
    for (const reference of STORIES260K_RUNC_REFERENCE) {
      const prompt = reference.ids.slice(0, reference.promptIdCount);
      const generated = await greedyWithOnnxRuntime(converted, prompt, reference.ids.length - prompt.length);
      expect([...prompt, ...generated], `prompt ${JSON.stringify(reference.prompt)}`).toEqual(reference.ids);
    }
  });

  it('a negative vocab_size means an unshared classifier (wcls after the weights): lm_head.weight, tie_word_embeddings false', async () => {
    // stories260K with its embedding appended as an explicit wcls: the same model, stored untied.
    const original = readFileSync(CHECKPOINT);
    const untied = Buffer.concat([original, original.subarray(28, 28 + 512 * 64 * 4)]);
    untied.writeInt32LE(-512, 20);
    const file = join(work.dir, 'untied.bin');
    writeFileSync(file, untied);
    const outDir = join(work.dir, 'untied');
    convertLlama2c({ checkpoint: file, tokenizer: TOKENIZER, outDir });
    expect(JSON.parse(readFileSync(join(outDir, 'config.json'), 'utf8'))).toMatchObject({ tie_word_embeddings: false, vocab_size: 512 });
    const model = decodeModel(readFileSync(join(outDir, 'onnx', 'model.onnx'))) as { graph: { initializer: Array<{ name: string; dims: number[] }> } };
    expect(model.graph.initializer.find((tensor) => tensor.name === 'lm_head.weight')?.dims).toEqual([64, 512]);
    const reference = STORIES260K_RUNC_REFERENCE[1]!;
    const prompt = reference.ids.slice(0, reference.promptIdCount);
    expect([...prompt, ...(await greedyWithOnnxRuntime(outDir, prompt, 20))]).toEqual(reference.ids.slice(0, prompt.length + 20));
  });

  it('writes byte-identical folders for the same inputs', () => {
    const again = join(work.dir, 'again');
    convertLlama2c({ checkpoint: CHECKPOINT, tokenizer: TOKENIZER, outDir: again, name: 'stories260K' });
    for (const file of ['config.json', 'tokenizer.json', 'onnx/model.onnx']) {
      expect(readFileSync(join(again, file)).equals(readFileSync(join(converted, file))), file).toBe(true);
    }
  });
});

describe('convertLlama2c errors leave nothing behind', () => {
  const original = readFileSync(CHECKPOINT);

  function expectFailure(run: () => unknown, code: string, reason?: string): MuaiError {
    let caught: unknown;
    try {
      run();
    } catch (error) {
      caught = error;
    }
    expect(MuaiError.isInstance(caught), String(caught)).toBe(true);
    const error = caught as MuaiError;
    expect(error.code).toBe(code);
    if (reason !== undefined) expect(error.details['reason']).toBe(reason);
    return error;
  }

  function convertInto(name: string, checkpoint: string, tokenizer = TOKENIZER, force = false) {
    const outDir = join(work.dir, name);
    const before = readdirSync(work.dir).sort();
    return {
      outDir,
      run: () => convertLlama2c({ checkpoint, tokenizer, outDir, force }),
      /** The temp folder holds exactly what it held before (no staging folder, no partial output). */
      unchanged: () => expect(readdirSync(work.dir).sort()).toEqual(before),
    };
  }

  it('truncated checkpoint: MODEL_INVALID (truncated)', () => {
    const file = join(work.dir, 'truncated.bin');
    writeFileSync(file, original.subarray(0, original.length - 1000));
    const attempt = convertInto('out-truncated', file);
    const error = expectFailure(attempt.run, 'MODEL_INVALID', 'truncated');
    expect(error.message).toMatch(/truncated/);
    expect(existsSync(attempt.outDir)).toBe(false);
    attempt.unchanged();
    const tiny = join(work.dir, 'tiny.bin');
    writeFileSync(tiny, original.subarray(0, 10));
    expectFailure(convertInto('out-tiny', tiny).run, 'MODEL_INVALID', 'truncated');
  });

  it('header that does not match the file size: MODEL_INVALID (size-mismatch)', () => {
    const file = join(work.dir, 'mismatch.bin');
    const bytes = Buffer.from(original);
    bytes.writeInt32LE(4, 8); // n_layers 5 -> 4: the header now describes fewer bytes than the file has
    writeFileSync(file, bytes);
    const attempt = convertInto('out-mismatch', file);
    expect(expectFailure(attempt.run, 'MODEL_INVALID', 'size-mismatch').message).toMatch(/does not match/);
    attempt.unchanged();
    bytes.writeInt32LE(5, 8);
    bytes.writeInt32LE(7, 12); // n_heads 7 does not divide dim 64
    writeFileSync(file, bytes);
    expectFailure(convertInto('out-bad-header', file).run, 'MODEL_INVALID', 'bad-header');
    bytes.writeUInt32LE(0x616b3432, 0); // llama2.c's version 1/2 export magic "ak42"
    writeFileSync(file, bytes);
    expect(expectFailure(convertInto('out-ak42', file).run, 'MODEL_INVALID', 'unsupported-format').message).toMatch(/version 0/);
  });

  it('tokenizer with another vocabulary size: MODEL_INVALID (vocab-mismatch)', () => {
    const attempt = convertInto('out-vocab', CHECKPOINT, join(FIXTURES, 'llama2c-tokenizer-32000', 'tokenizer.bin'));
    const error = expectFailure(attempt.run, 'MODEL_INVALID', 'vocab-mismatch');
    expect(error.details).toMatchObject({ tokenizerTokens: 32000, checkpointVocabSize: 512 });
    attempt.unchanged();
  });

  it('existing output folder: INVALID_REQUEST unless force, which replaces it whole', () => {
    const attempt = convertInto('existing', CHECKPOINT);
    const outDir = attempt.outDir;
    convertLlama2c({ checkpoint: CHECKPOINT, tokenizer: TOKENIZER, outDir });
    writeFileSync(join(outDir, 'stale.txt'), 'left from before');
    expectFailure(() => convertLlama2c({ checkpoint: CHECKPOINT, tokenizer: TOKENIZER, outDir }), 'INVALID_REQUEST');
    expect(existsSync(join(outDir, 'stale.txt'))).toBe(true);
    convertLlama2c({ checkpoint: CHECKPOINT, tokenizer: TOKENIZER, outDir, force: true });
    expect(existsSync(join(outDir, 'stale.txt'))).toBe(false);
    expect(existsSync(join(outDir, 'onnx', 'model.onnx'))).toBe(true);
    expect(readdirSync(work.dir).filter((name) => name.includes('converting'))).toEqual([]);
  });

  it('missing input: MODEL_NOT_FOUND', () => {
    expectFailure(convertInto('out-missing', join(work.dir, 'nope.bin')).run, 'MODEL_NOT_FOUND');
  });
});
