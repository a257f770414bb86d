import { Prng } from './prng.js';

/** Resolved sampling settings of one sequence. */
export interface SamplerSettings {
  /** 0 means greedy. */
  temperature: number;
  /** 0 disables. */
  topK: number;
  /** 1 disables. */
  topP: number;
  /** 0 disables. */
  minP: number;
  /** 1 disables. */
  repetitionPenalty: number;
  /** Seed of the PRNG; a random one when undefined. */
  seed?: number | undefined;
}

/** Index of the largest value of `row` (the first one on ties, as argmax in transformers.js). */
export function argmax(row: Float32Array): number {
  let best = 0;
  let bestValue = row[0] ?? Number.NEGATIVE_INFINITY;
  for (let i = 1; i < row.length; i++) {
    const value = row[i]!;
    if (value > bestValue) {
      bestValue = value;
      best = i;
    }
  }
  return best;
}

/**
 * Picks the next token of one sequence from its last-position logits: repetition penalty, then
 * temperature, top-k, top-p, min-p (the order Hugging Face applies them), then a draw from the
 * sequence's own PRNG. One per sequence, so that a batch of sequences stays reproducible.
 */
export class Sampler {
  readonly settings: SamplerSettings;
  private readonly vocabSize: number;
  private readonly prng: Prng;
  private readonly seen: Uint8Array;
  private readonly seenIds: number[] = [];
  private scratch: Float32Array | undefined;
  private probs: Float32Array | undefined;

  constructor(settings: SamplerSettings, vocabSize: number) {
    this.settings = settings;
    this.vocabSize = vocabSize;
    this.prng = new Prng(settings.seed ?? Math.floor(Math.random() * 4294967296));
    this.seen = new Uint8Array(settings.repetitionPenalty === 1 ? 0 : vocabSize);
  }

  /** True when picking is a plain argmax over the raw logits. */
  get isPlainGreedy(): boolean {
    return this.settings.temperature === 0 && this.settings.repetitionPenalty === 1;
  }

  /** Records tokens of the context (prompt and generated), for the repetition penalty. */
  observe(tokenId: number): void {
    if (this.seen.length === 0 || tokenId < 0 || tokenId >= this.vocabSize) return;
    if (this.seen[tokenId] === 0) {
      this.seen[tokenId] = 1;
      this.seenIds.push(tokenId);
    }
  }

  /** A reusable float32 buffer of vocabulary size, for callers that must decode logits first. */
  scratchRow(): Float32Array {
    this.scratch ??= new Float32Array(this.vocabSize);
    return this.scratch;
  }

  /**
   * Picks a token from `row` (length = vocabulary). `row` may be modified when it is this
   * sampler's scratch row; otherwise it is copied before being modified.
   */
  pick(row: Float32Array): number {
    if (this.isPlainGreedy) return argmax(row);
    let logits = row;
    if (this.settings.repetitionPenalty !== 1) {
      const scratch = this.scratchRow();
      if (logits !== scratch) {
        scratch.set(logits);
        logits = scratch;
      }
      const penalty = this.settings.repetitionPenalty;
      for (const id of this.seenIds) {
        const value = logits[id]!;
        logits[id] = value < 0 ? value * penalty : value / penalty;
      }
    }
    if (this.settings.temperature === 0) return argmax(logits);
    return this.draw(logits);
  }

  private draw(logits: Float32Array): number {
    const { temperature, topK, topP, minP } = this.settings;
    const size = logits.length;
    this.probs ??= new Float32Array(size);
    const probs = this.probs;
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < size; i++) if (logits[i]! > max) max = logits[i]!;
    const inverse = 1 / temperature;
    let total = 0;
    for (let i = 0; i < size; i++) {
      const p = Math.exp((logits[i]! - max) * inverse);
      probs[i] = p;
      total += p;
    }
    // The top token has unnormalized probability exactly 1.
    let candidates: number[] | undefined;
    if (topK > 0 && topK < size) candidates = topKIndices(probs, topK);
    if (topP < 1) candidates = nucleus(probs, total, topP, candidates);
    if (minP > 0) {
      const threshold = minP; // relative to the top token's probability, which is 1 here
      const base = candidates ?? allIndices(size);
      candidates = base.filter((id) => probs[id]! >= threshold);
      if (candidates.length === 0) candidates = [argmax(probs)];
    }
    if (candidates === undefined) {
      let target = this.prng.nextFloat() * total;
      for (let i = 0; i < size; i++) {
        target -= probs[i]!;
        if (target < 0) return i;
      }
      return argmax(probs);
    }
    let mass = 0;
    for (const id of candidates) mass += probs[id]!;
    let target = this.prng.nextFloat() * mass;
    for (const id of candidates) {
      target -= probs[id]!;
      if (target < 0) return id;
    }
    return candidates[candidates.length - 1]!;
  }
}

function allIndices(size: number): number[] {
  const out = new Array<number>(size);
  for (let i = 0; i < size; i++) out[i] = i;
  return out;
}

/** The k most probable indices, most probable first (a size-k min-heap: O(V log k)). */
function topKIndices(probs: Float32Array, k: number): number[] {
  const heap: number[] = [];
  const less = (a: number, b: number): boolean => probs[a]! < probs[b]! || (probs[a] === probs[b] && a > b);
  const siftDown = (start: number): void => {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = i;
      if (l < heap.length && less(heap[l]!, heap[smallest]!)) smallest = l;
      if (r < heap.length && less(heap[r]!, heap[smallest]!)) smallest = r;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
  };
  for (let id = 0; id < probs.length; id++) {
    if (heap.length < k) {
      heap.push(id);
      let i = heap.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!less(heap[i]!, heap[parent]!)) break;
        [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
        i = parent;
      }
    } else if (less(heap[0]!, id)) {
      heap[0] = id;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => probs[b]! - probs[a]! || a - b);
}

/**
 * The smallest most-probable set whose mass reaches `topP` (the token that crosses is kept).
 * Without a candidate list, only tokens above a threshold are sorted, lowering it until the
 * tokens above it hold the needed mass: exact, and far cheaper than sorting the vocabulary.
 */
function nucleus(probs: Float32Array, total: number, topP: number, candidates: number[] | undefined): number[] {
  let sorted: number[];
  let mass = total;
  if (candidates !== undefined) {
    sorted = candidates; // already most probable first
    mass = 0;
    for (const id of candidates) mass += probs[id]!;
  } else {
    let threshold = 1 / 16;
    for (;;) {
      const above: number[] = [];
      let aboveMass = 0;
      for (let i = 0; i < probs.length; i++) {
        if (probs[i]! >= threshold) {
          above.push(i);
          aboveMass += probs[i]!;
        }
      }
      if (aboveMass >= topP * total || threshold === 0) {
        sorted = above.sort((a, b) => probs[b]! - probs[a]! || a - b);
        break;
      }
      threshold = threshold < 1e-30 ? 0 : threshold / 64;
    }
  }
  const needed = topP * mass;
  const kept: number[] = [];
  let cumulative = 0;
  for (const id of sorted) {
    kept.push(id);
    cumulative += probs[id]!;
    if (cumulative >= needed) break;
  }
  return kept;
}
