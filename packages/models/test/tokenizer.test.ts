import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import type { MuaiError } from '@muai/core';
import { llama2cBpeVocabulary, llamaTokenizerConfigJson, llamaTokenizerJson, parseLlama2cTokenizer, readLlama2cTokenizer } from '../src/index.js';
import { FIXTURES, TOKENIZER } from './helpers.js';

const LLAMA2_TOKENIZER_BIN = join(FIXTURES, 'llama2c-tokenizer-32000', 'tokenizer.bin');
const expected = JSON.parse(readFileSync(join(FIXTURES, 'llama2-tokenizer-expected-ids.json'), 'utf8')) as { cases: Array<{ text: string; ids: number[] }> };

function converted(file: string, vocabSize: number): Tokenizer {
  const vocabulary = llama2cBpeVocabulary(readLlama2cTokenizer(file, vocabSize));
  return new Tokenizer(llamaTokenizerJson(vocabulary), llamaTokenizerConfigJson({ maxLength: 2048 }));
}

describe('llama2.c tokenizer.bin conversion', () => {
  it('the 32000-piece Llama 2 tokenizer.bin encodes like the Hugging Face Llama 2 tokenizer.json', () => {
    const tokenizer = converted(LLAMA2_TOKENIZER_BIN, 32000);
    expect(expected.cases.length).toBeGreaterThan(10);
    for (const { text, ids } of expected.cases) {
      expect(tokenizer.encode(text).ids, JSON.stringify(text)).toEqual(ids);
      expect(tokenizer.decode(ids, { skip_special_tokens: true }), JSON.stringify(text)).toBe(text);
    }
  });

  it('maps llama2.c\'s specials and spaces to the Hugging Face names', () => {
    const { tokens, merges } = llama2cBpeVocabulary(readLlama2cTokenizer(TOKENIZER, 512));
    expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(tokens[403]).toBe('\u2581Once');
    expect(tokens[511]).toBe('\u200a'); // a hair space stays itself: only U+0020 becomes ▁
    expect(merges[0]).toEqual(['\u2581', 't']); // the highest-scored piece (id 259, " t") merges first
  });

  it('rejects a truncated tokenizer.bin and a vocabulary size mismatch with codes', () => {
    const bytes = readFileSync(TOKENIZER);
    const attempt = (data: Uint8Array, vocab: number) => {
      try {
        parseLlama2cTokenizer(data, vocab, 'tok.bin');
      } catch (error) {
        return error as MuaiError;
      }
      throw new Error('expected an error');
    };
    const truncated = attempt(bytes.subarray(0, bytes.length - 3), 512);
    expect([truncated.code, truncated.details['reason']]).toEqual(['MODEL_INVALID', 'truncated']);
    const mismatch = attempt(bytes, 1024);
    expect([mismatch.code, mismatch.details['reason'], mismatch.details['tokenizerTokens']]).toEqual(['MODEL_INVALID', 'vocab-mismatch', 512]);
  });
});
