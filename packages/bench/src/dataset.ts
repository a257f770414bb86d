import { readFileSync } from 'node:fs';
import { InvalidRequestError } from '@muai/core';
import { DatasetInvalidError } from './errors.js';
import { createRandom } from './random.js';
import type { Random } from './random.js';

/** One request of a benchmark dataset. */
export interface BenchPrompt {
  /** The text sent (as `prompt`, or as one user message on chat endpoints). */
  prompt: string;
  /** Tokens of `prompt` by the tokenizer given, when one was given. */
  promptTokens?: number;
  /** `max_tokens` sent with the request. */
  maxTokens: number;
}

/** Counts the tokens of a text (the model's tokenizer). Without one, lengths are in words. */
export type CountTokens = (text: string) => number;

// Short common words: with a BPE tokenizer most are one token, so word counts start close.
const WORDS = (
  'the of and to in is was for on that with as by at from his her they this are had not but be or have an which one ' +
  'you were all we their there been has when who will more no if out so said what up its about into than them can ' +
  'only other new some time could these two may then do first any my now such like our over man me even most made after ' +
  'also did many before must through back years where much your way well down should because each just those people how ' +
  'too little state good very make world still own see men work long get here between both life being under never day ' +
  'same another know while last might us great old year off come since against go came right used take three'
).split(' ');

function words(random: Random, count: number): string[] {
  const out = new Array<string>(count);
  for (let i = 0; i < count; i++) out[i] = WORDS[Math.floor(random.next() * WORDS.length)]!;
  return out;
}

/**
 * Random words whose token count is `tokens` by `countTokens` (within one word's tokens below
 * it when a word is several tokens), or `tokens` words without a tokenizer.
 */
export function randomText(random: Random, tokens: number, countTokens?: CountTokens): { text: string; tokens?: number } {
  if (tokens <= 0) return countTokens ? { text: '', tokens: 0 } : { text: '' };
  const pool = words(random, tokens);
  if (!countTokens) return { text: pool.join(' ') };
  let text = pool.join(' ');
  let count = countTokens(text);
  // Grow with fresh words until long enough, then trim words from the end until it fits.
  while (count < tokens) {
    pool.push(...words(random, Math.max(1, tokens - count)));
    text = pool.join(' ');
    count = countTokens(text);
  }
  let low = 1;
  let high = pool.length;
  // Largest word count whose text has at most `tokens` tokens (token count grows with words).
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if (countTokens(pool.slice(0, mid).join(' ')) <= tokens) low = mid;
    else high = mid - 1;
  }
  text = pool.slice(0, low).join(' ');
  return { text, tokens: countTokens(text) };
}

function lengthIn(random: Random, length: number, rangeRatio: number): number {
  if (rangeRatio <= 0) return length;
  return random.integer(Math.max(1, Math.floor(length * (1 - rangeRatio))), Math.ceil(length * (1 + rangeRatio)));
}

/** Options of the `random` dataset (vLLM's names: --random-input-len, --random-output-len, ...). */
export interface RandomDatasetOptions {
  numPrompts: number;
  /** Prompt tokens. Default 128. */
  inputLen?: number;
  /** max_tokens. Default 32. */
  outputLen?: number;
  /** Lengths uniform in [L·(1−r), L·(1+r)]; 0 (the default) fixes them. Must be in [0, 1). */
  rangeRatio?: number;
  /** Tokens of one random prefix shared by every prompt, before its own input. Default 0. */
  prefixLen?: number;
  seed?: number;
  countTokens?: CountTokens;
}

export function randomDataset(options: RandomDatasetOptions): BenchPrompt[] {
  const rangeRatio = options.rangeRatio ?? 0;
  if (!(rangeRatio >= 0 && rangeRatio < 1)) throw new InvalidRequestError(`--random-range-ratio must be in [0, 1) (got ${rangeRatio}).`);
  const random = createRandom(options.seed ?? 0);
  const prefix = randomText(random, options.prefixLen ?? 0, options.countTokens);
  const prompts: BenchPrompt[] = [];
  for (let i = 0; i < options.numPrompts; i++) {
    const body = randomText(random, lengthIn(random, options.inputLen ?? 128, rangeRatio), options.countTokens);
    const text = prefix.text === '' ? body.text : `${prefix.text} ${body.text}`;
    const entry: BenchPrompt = { prompt: text, maxTokens: lengthIn(random, options.outputLen ?? 32, rangeRatio) };
    if (options.countTokens) entry.promptTokens = options.countTokens(text);
    prompts.push(entry);
  }
  return prompts;
}

/** Options of the shared-prefix dataset: K prefixes × M suffixes, for prefix-cache studies. */
export interface SharedPrefixDatasetOptions {
  /** K: distinct prefixes. Default 4. */
  numPrefixes?: number;
  /** M: prompts per prefix. Default 8. */
  suffixesPerPrefix?: number;
  /** Tokens per prefix. Default 256. */
  prefixLen?: number;
  /** Tokens per suffix. Default 32. */
  suffixLen?: number;
  /** max_tokens. Default 32. */
  outputLen?: number;
  seed?: number;
  countTokens?: CountTokens;
}

/** K·M prompts, each one of K shared prefixes plus its own suffix, in a seeded shuffled order. */
export function sharedPrefixDataset(options: SharedPrefixDatasetOptions = {}): BenchPrompt[] {
  const random = createRandom(options.seed ?? 0);
  const prompts: BenchPrompt[] = [];
  for (let k = 0; k < (options.numPrefixes ?? 4); k++) {
    const prefix = randomText(random, options.prefixLen ?? 256, options.countTokens).text;
    for (let m = 0; m < (options.suffixesPerPrefix ?? 8); m++) {
      const text = `${prefix} ${randomText(random, options.suffixLen ?? 32, options.countTokens).text}`;
      const entry: BenchPrompt = { prompt: text, maxTokens: options.outputLen ?? 32 };
      if (options.countTokens) entry.promptTokens = options.countTokens(text);
      prompts.push(entry);
    }
  }
  return shuffle(prompts, random);
}

function shuffle<T>(items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random.next() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new DatasetInvalidError(file, `cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
}

/** Options of a ShareGPT dataset file. */
export interface ShareGptDatasetOptions {
  numPrompts: number;
  /** max_tokens for every prompt; default: the tokens of the recorded answer (words/0.75 without a tokenizer). */
  outputLen?: number;
  seed?: number;
  countTokens?: CountTokens;
}

interface ShareGptTurn {
  from?: unknown;
  value?: unknown;
}

/**
 * A ShareGPT file (a JSON array, or JSON Lines, of `{ conversations: [{ from, value }, ...] }`):
 * the first turn is the prompt, the second the answer whose length sets max_tokens (vLLM's rule).
 * Conversations with fewer than two turns are skipped; prompts are shuffled with the seed.
 */
export function shareGptDataset(file: string, options: ShareGptDatasetOptions): BenchPrompt[] {
  const text = readText(file);
  let entries: unknown[];
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[')) {
    try {
      entries = JSON.parse(text) as unknown[];
    } catch (error) {
      throw new DatasetInvalidError(file, `not valid JSON (${(error as Error).message})`, { cause: error });
    }
  } else {
    entries = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      try {
        entries.push(JSON.parse(line));
      } catch (error) {
        throw new DatasetInvalidError(file, `line ${i + 1} is not valid JSON (${(error as Error).message}); expected a JSON array or JSON Lines of { "conversations": [...] }`, {
          cause: error,
          details: { line: i + 1 },
        });
      }
    }
  }
  const prompts: BenchPrompt[] = [];
  for (let i = 0; i < entries.length; i++) {
    const conversations = (entries[i] as { conversations?: unknown } | null)?.conversations;
    if (!Array.isArray(conversations)) {
      throw new DatasetInvalidError(file, `entry ${i + 1} has no "conversations" array; expected ShareGPT's { "conversations": [{ "from": "human", "value": "..." }, ...] }`, {
        details: { entry: i + 1 },
      });
    }
    const [ask, answer] = conversations as ShareGptTurn[];
    if (typeof ask?.value !== 'string' || typeof answer?.value !== 'string' || ask.value === '') continue;
    const answerTokens = options.countTokens ? options.countTokens(answer.value) : Math.ceil(answer.value.split(/\s+/).length / 0.75);
    const entry: BenchPrompt = { prompt: ask.value, maxTokens: Math.max(1, options.outputLen ?? answerTokens) };
    if (options.countTokens) entry.promptTokens = options.countTokens(ask.value);
    prompts.push(entry);
  }
  if (prompts.length === 0) throw new DatasetInvalidError(file, 'it holds no conversation with a prompt and an answer');
  return shuffle(prompts, createRandom(options.seed ?? 0)).slice(0, options.numPrompts);
}

/** A plain prompt file: one prompt per non-empty line; every prompt gets `outputLen` max_tokens (default 32). */
export function promptFileDataset(file: string, options: { outputLen?: number; countTokens?: CountTokens } = {}): BenchPrompt[] {
  const prompts: BenchPrompt[] = [];
  for (const line of readText(file).split('\n')) {
    const prompt = line.trim();
    if (prompt === '') continue;
    const entry: BenchPrompt = { prompt, maxTokens: options.outputLen ?? 32 };
    if (options.countTokens) entry.promptTokens = options.countTokens(prompt);
    prompts.push(entry);
  }
  if (prompts.length === 0) throw new DatasetInvalidError(file, 'it holds no prompt (one prompt per non-empty line)');
  return prompts;
}
