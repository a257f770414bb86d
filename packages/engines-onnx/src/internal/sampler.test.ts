import { describe, expect, it } from 'vitest';
import { Prng } from './prng.js';
import { Sampler, argmax } from './sampler.js';

const base = { temperature: 1, topK: 0, topP: 1, minP: 0, repetitionPenalty: 1 };

function histogram(sampler: Sampler, logits: Float32Array, draws: number): Map<number, number> {
  const counts = new Map<number, number>();
  for (let i = 0; i < draws; i++) {
    const id = sampler.pick(logits);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

describe('Prng', () => {
  it('is reproducible per seed and differs between seeds', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const seqA = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(seqA);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(seqA);
    for (let i = 0; i < 1000; i++) {
      const x = a.nextFloat();
      expect(x >= 0 && x < 1).toBe(true);
    }
  });
});

describe('Sampler', () => {
  const logits = Float32Array.from([1, 3, 2, 3.5, -1, 0]);

  it('argmax takes the first of equal maxima', () => {
    expect(argmax(Float32Array.from([0, 2, 2, 1]))).toBe(1);
  });

  it('temperature 0 is greedy; topK 1 and a tiny topP are greedy too', () => {
    expect(new Sampler({ ...base, temperature: 0 }, 6).pick(logits)).toBe(3);
    expect([...histogram(new Sampler({ ...base, topK: 1, seed: 1 }, 6), logits, 50).keys()]).toEqual([3]);
    expect([...histogram(new Sampler({ ...base, topP: 0.01, seed: 1 }, 6), logits, 50).keys()]).toEqual([3]);
  });

  it('topK keeps only the k most likely; topP keeps the nucleus; minP cuts relative to the top token', () => {
    expect([...histogram(new Sampler({ ...base, topK: 2, seed: 3 }, 6), logits, 400).keys()].sort()).toEqual([1, 3]);
    // probs ~ 3.5:0.52, 3:0.32, 2:0.12, ... -> top-p 0.8 keeps {3, 1}
    expect([...histogram(new Sampler({ ...base, topP: 0.8, seed: 3 }, 6), logits, 400).keys()].sort()).toEqual([1, 3]);
    // minP 0.2: keeps tokens with p >= 0.2 * p(top): e^(x-3.5) >= 0.2 -> x >= 1.89
    expect([...histogram(new Sampler({ ...base, minP: 0.2, seed: 3 }, 6), logits, 600).keys()].sort()).toEqual([1, 2, 3]);
  });

  it('samples in proportion to softmax(logits / temperature)', () => {
    const counts = histogram(new Sampler({ ...base, seed: 9 }, 6), logits, 20000);
    const exp = Array.from(logits, (x) => Math.exp(x));
    const total = exp.reduce((a, b) => a + b, 0);
    for (let id = 0; id < 6; id++) expect((counts.get(id) ?? 0) / 20000).toBeCloseTo(exp[id]! / total, 1);
  });

  it('is reproducible with a seed', () => {
    const draw = (seed: number) => Array.from({ length: 30 }, ((sampler) => () => sampler.pick(logits))(new Sampler({ ...base, seed }, 6)));
    expect(draw(5)).toEqual(draw(5));
    expect(draw(5)).not.toEqual(draw(6));
  });

  it('repetition penalty divides positive and multiplies negative logits of seen tokens, without touching the caller row', () => {
    const sampler = new Sampler({ ...base, temperature: 0, repetitionPenalty: 2 }, 6);
    sampler.observe(3);
    const row = Float32Array.from(logits);
    expect(sampler.pick(row)).toBe(1); // 3.5 / 2 = 1.75 < 3
    expect(row).toEqual(logits);
    sampler.observe(1);
    expect(sampler.pick(row)).toBe(2); // 3 / 2 = 1.5 < 2
  });

  it('nucleus over a large flat vocabulary stays exact', () => {
    const flat = new Float32Array(32000).fill(0);
    flat[7] = 5;
    const counts = histogram(new Sampler({ ...base, topP: 0.5, seed: 2 }, 32000), flat, 50);
    // p(7) = e^5 / (e^5 + 31999) ~ 0.0046: the nucleus needs many tokens, not just 7.
    expect(counts.size).toBeGreaterThan(10);
  });
});
