import { resolve as resolvePath } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TextAssembler } from './text-assembler.js';
import { TextTokenizer } from './text-tokenizer.js';

const LLAMA = resolvePath(import.meta.dirname, '../../test/fixtures/models/tiny-random-llama-fp16');

/** A toy vocabulary: each id is a piece of text. */
function toy(pieces: string[]): (ids: number[]) => string {
  return (ids) => ids.map((id) => pieces[id]).join('');
}

function run(assembler: TextAssembler, ids: number[]): { deltas: string[]; stopped: boolean } {
  const deltas: string[] = [];
  for (const id of ids) {
    const { text, stopped } = assembler.push(id);
    deltas.push(text);
    if (stopped) return { deltas, stopped };
  }
  const end = assembler.finish();
  deltas.push(end.text);
  return { deltas, stopped: end.stopped };
}

describe('TextAssembler', () => {
  it('streams deltas that concatenate to the full decode, without broken characters from byte-fallback tokens', () => {
    const tokenizer = TextTokenizer.load(LLAMA);
    const text = 'Grüße 🙂 to 東京 and €5';
    const ids = tokenizer.encodePrompt(text).slice(1); // without BOS
    // Some characters are split over byte-fallback tokens that decode alone to U+FFFD.
    expect(ids.some((id) => tokenizer.decode([id]).includes('\uFFFD'))).toBe(true);
    const { deltas } = run(new TextAssembler((list) => tokenizer.decode(list)), ids);
    expect(deltas.join('')).toBe(tokenizer.decode(ids));
    expect(deltas.join('')).toBe(text);
    for (const delta of deltas) expect(delta).not.toContain('\uFFFD');
  });

  it('stops before a stop sequence spanning several tokens and never emits its start early', () => {
    const decode = toy(['Hello', ' wo', 'rld', ' and', ' ST', 'O', 'P', ' more']);
    const { deltas, stopped } = run(new TextAssembler(decode, ['STOP']), [0, 1, 2, 3, 4, 5, 6, 7]);
    expect(stopped).toBe(true);
    expect(deltas.join('')).toBe('Hello world and ');
    // ' ST' and 'O' were held back: nothing was emitted while the stop was unresolved.
    expect(deltas.slice(4)).toEqual([' ', '', '']);
  });

  it('releases held-back text when the stop sequence does not complete', () => {
    const decode = toy(['a', ' ST', 'A', 'R', ' end']);
    const { deltas, stopped } = run(new TextAssembler(decode, ['STOP']), [0, 1, 2, 3, 4]);
    expect(stopped).toBe(false);
    expect(deltas.join('')).toBe('a STAR end');
    expect(deltas[1]).toBe(' '); // 'ST' could start STOP
  });

  it('flushes held-back text at the end (length), and picks the earliest of several stops', () => {
    const decode = toy(['x', 'ab', 'c', 'd']);
    expect(run(new TextAssembler(decode, ['abcz']), [0, 1, 2]).deltas.join('')).toBe('xabc');
    const both = run(new TextAssembler(decode, ['d', 'bc']), [0, 1, 2, 3]);
    expect(both.stopped).toBe(true);
    expect(both.deltas.join('')).toBe('xa');
  });

  it('stops on a stop sequence inside one token', () => {
    const decode = toy(['one', ' two\n\nthree']);
    const { deltas, stopped } = run(new TextAssembler(decode, ['\n\n']), [0, 1]);
    expect(stopped).toBe(true);
    expect(deltas.join('')).toBe('one two');
  });
});
