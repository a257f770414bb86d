import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { promptFileDataset, randomDataset, sharedPrefixDataset, shareGptDataset } from '../src/index.js';

// A stand-in tokenizer where a word of n letters is ceil(n / 3) tokens: words are not one token each.
const countTokens = (text: string): number => text.split(' ').filter((w) => w !== '').reduce((sum, word) => sum + Math.ceil(word.length / 3), 0);

describe('datasets', () => {
  it('random: exact token counts through the tokenizer, lengths within the range ratio, seeded', () => {
    const prompts = randomDataset({ numPrompts: 50, inputLen: 100, outputLen: 20, rangeRatio: 0.5, seed: 4, countTokens });
    for (const prompt of prompts) {
      expect(prompt.promptTokens).toBe(countTokens(prompt.prompt));
      expect(prompt.promptTokens!).toBeGreaterThanOrEqual(50 - 2);
      expect(prompt.promptTokens!).toBeLessThanOrEqual(150);
      expect(prompt.maxTokens).toBeGreaterThanOrEqual(10);
      expect(prompt.maxTokens).toBeLessThanOrEqual(30);
    }
    expect(new Set(prompts.map((prompt) => prompt.promptTokens)).size).toBeGreaterThan(10);
    expect(randomDataset({ numPrompts: 5, seed: 4, countTokens })).toEqual(randomDataset({ numPrompts: 5, seed: 4, countTokens }));
    const fixed = randomDataset({ numPrompts: 20, inputLen: 64, seed: 1, countTokens });
    // Within one word's tokens (at most 2 here) of the target.
    for (const prompt of fixed) expect(64 - prompt.promptTokens!).toBeLessThanOrEqual(2);
  });

  it('random with a shared prefix; without a tokenizer, lengths are words', () => {
    const prompts = randomDataset({ numPrompts: 3, inputLen: 10, prefixLen: 5, seed: 2 });
    const prefix = prompts[0]!.prompt.split(' ').slice(0, 5).join(' ');
    for (const prompt of prompts) {
      expect(prompt.prompt.startsWith(prefix)).toBe(true);
      expect(prompt.prompt.split(' ')).toHaveLength(15);
      expect(prompt.promptTokens).toBeUndefined();
    }
  });

  it('shared prefix: K prefixes x M suffixes', () => {
    const prompts = sharedPrefixDataset({ numPrefixes: 3, suffixesPerPrefix: 4, prefixLen: 20, suffixLen: 5, seed: 1 });
    expect(prompts).toHaveLength(12);
    const prefixes = new Map<string, number>();
    for (const prompt of prompts) {
      const key = prompt.prompt.split(' ').slice(0, 20).join(' ');
      prefixes.set(key, (prefixes.get(key) ?? 0) + 1);
    }
    expect([...prefixes.values()]).toEqual([4, 4, 4]);
  });

  const dir = mkdtempSync(join(tmpdir(), 'muai-bench-data-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ShareGPT JSON and JSONL: first turn is the prompt, the answer sets max_tokens', () => {
    const conversations = [
      { conversations: [{ from: 'human', value: 'What is AI?' }, { from: 'gpt', value: 'A field of computer science' }] },
      { conversations: [{ from: 'human', value: 'only one turn' }] },
      { conversations: [{ from: 'human', value: 'Say hi' }, { from: 'gpt', value: 'hi' }] },
    ];
    const jsonFile = join(dir, 'share.json');
    writeFileSync(jsonFile, JSON.stringify(conversations));
    const jsonlFile = join(dir, 'share.jsonl');
    writeFileSync(jsonlFile, conversations.map((c) => JSON.stringify(c)).join('\n'));
    for (const file of [jsonFile, jsonlFile]) {
      const prompts = shareGptDataset(file, { numPrompts: 10, countTokens, seed: 1 });
      expect(prompts.map((prompt) => prompt.prompt).sort()).toEqual(['Say hi', 'What is AI?']);
      const ai = prompts.find((prompt) => prompt.prompt === 'What is AI?')!;
      expect(ai.maxTokens).toBe(countTokens('A field of computer science'));
      expect(ai.promptTokens).toBe(countTokens('What is AI?'));
    }
    expect(shareGptDataset(jsonFile, { numPrompts: 1, outputLen: 7 })[0]!.maxTokens).toBe(7);
  });

  it('prompt file: one prompt per non-empty line', () => {
    const file = join(dir, 'prompts.txt');
    writeFileSync(file, 'first prompt\n\nsecond prompt\n');
    expect(promptFileDataset(file, { outputLen: 9 })).toEqual([
      { prompt: 'first prompt', maxTokens: 9 },
      { prompt: 'second prompt', maxTokens: 9 },
    ]);
  });
});
