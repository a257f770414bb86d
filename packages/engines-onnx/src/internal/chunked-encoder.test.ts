import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { ChunkedEncoder } from './chunked-encoder.js';
import { TextTokenizer } from './text-tokenizer.js';

// The generated tiny model's tokenizer (a shrunk Llama BPE vocabulary, Llama's normalizer):
// `node tools/model-gen/generate.mjs --size tiny` writes it; without it this test fails.
const TINY = resolve(import.meta.dirname, '../../../../models/generated/tiny');
const tokenizerJson = JSON.parse(readFileSync(join(TINY, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
const tokenizerConfig = JSON.parse(readFileSync(join(TINY, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
let calls = 0;
const encodeWith = (text: string, special: boolean): number[] => {
  calls++;
  return tokenizer.encode(text, { add_special_tokens: special }).ids;
};

/** Seeded texts mixing words, runs of spaces, newlines, punctuation, digits, non-ASCII and '▁'. */
function texts(count: number): string[] {
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const pieces = ['the', 'computer', 'history', 'machines', ',', '.', '  ', '   ', '\n', '\n\n', '42', '3.14', 'naïve', '日本', '▁', '"quoted"', '(x)', 'zzqx', ' '];
  return Array.from({ length: count }, () => {
    const words: string[] = [];
    const n = 100 + random(700);
    for (let i = 0; i < n; i++) words.push(pieces[random(pieces.length)]!);
    return words.join(random(4) === 0 ? '' : ' ');
  });
}

describe('ChunkedEncoder', () => {
  const encoder = ChunkedEncoder.create(tokenizerJson, encodeWith);

  it('is enabled for the Llama-style tokenizer and gives exactly the plain ids, with and without special tokens', () => {
    expect(encoder).toBeDefined();
    for (const text of texts(40)) {
      for (const special of [true, false]) expect(encoder!.encode(text, special)).toEqual(tokenizer.encode(text, { add_special_tokens: special }).ids);
    }
  });

  it('tokenizes only the new part of a prompt that shares its beginning with an earlier one', () => {
    const shared = texts(1)[0]!.replace(/\s+/g, ' ') + ' and so on';
    const a = `${shared} When did it start?`;
    const b = `${shared} Why is silicon used?`;
    expect(encoder!.encode(a, true)).toEqual(tokenizer.encode(a).ids);
    calls = 0;
    expect(encoder!.encode(b, true)).toEqual(tokenizer.encode(b).ids);
    // The chunks of the shared part come from the cache: one or two new chunks are tokenized.
    expect(calls).toBeLessThanOrEqual(2);
  });

  it('keeps the plain encoding when the prompt holds an added token or the tokenizer is not Llama-style', () => {
    const text = `${'word '.repeat(200)}</s>${' more'.repeat(100)}`;
    expect(encoder!.encode(text, true)).toEqual(tokenizer.encode(text).ids);
    const model = tokenizerJson['model'] as { merges: unknown[] };
    // A merge that could join a piece to a following '▁' makes cutting at spaces inexact.
    expect(ChunkedEncoder.create({ ...tokenizerJson, model: { ...model, merges: [...model.merges, ['a', '▁b']] } }, encodeWith)).toBeUndefined();
    expect(ChunkedEncoder.create({ ...tokenizerJson, pre_tokenizer: { type: 'ByteLevel' } }, encodeWith)).toBeUndefined();
    expect(ChunkedEncoder.create({ ...tokenizerJson, normalizer: null }, encodeWith)).toBeUndefined();
  });
});

describe('TextTokenizer with chunked prompts', () => {
  it('loads the Llama-style tokenizer with chunking on (after releasing its construction tables) and encodes long prompts exactly', () => {
    // Releasing the construction tables once emptied the merges ChunkedEncoder checks, silently
    // turning chunking off (the prefix benchmark's warm TTFT went from 0.6 ms to ~40 ms of tokenizing).
    const loaded = TextTokenizer.load(TINY);
    expect(loaded.chunkedPrompts).toBe(true);
    for (const text of texts(5)) expect(loaded.encodePrompt(text)).toEqual(tokenizer.encode(text).ids);
  });
});
