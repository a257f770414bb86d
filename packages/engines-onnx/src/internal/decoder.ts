import * as ort from 'onnxruntime-node';
import { MuaiError } from '@muai/core';
import type { FinishReason } from '@muai/core';
import { decodeHalves } from './half.js';
import type { LmLayout } from './lm-layout.js';
import type { Sampler } from './sampler.js';
import type { TextAssembler } from './text-assembler.js';
import type { TextTokenizer } from './text-tokenizer.js';

/** A loaded decoder language model. */
export interface CausalLm {
  name: string;
  dir: string;
  graphPath: string;
  dtype: string;
  session: ort.InferenceSession;
  layout: LmLayout;
  tokenizer: TextTokenizer;
  contextLength: number;
  vocabSize: number;
  /** eos ids from generation_config.json, else config.json. */
  eosTokenIds: readonly number[];
  /** Sampling defaults from generation_config.json (greedy unless it says do_sample). */
  samplingDefaults: { temperature: number; topK: number; topP: number; minP: number; repetitionPenalty: number };
}

/**
 * One sequence being generated: its ids, how many of them are in the KV cache, its sampler, its
 * stop state and text assembler. A batch holds several of these; continuous batching (sequences
 * joining and leaving between steps) works on this state.
 */
export class SequenceState {
  /** Prompt ids followed by generated ids. */
  readonly tokens: number[];
  readonly promptLength: number;
  /** Tokens whose keys/values are in the batch's cache. */
  pastLength = 0;
  readonly maxNewTokens: number;
  readonly sampler: Sampler;
  readonly assembler: TextAssembler;
  readonly stopTokenIds: ReadonlySet<number>;
  finishReason: FinishReason | undefined;

  constructor(promptIds: readonly number[], maxNewTokens: number, sampler: Sampler, assembler: TextAssembler, stopTokenIds: ReadonlySet<number>) {
    this.tokens = [...promptIds];
    this.promptLength = promptIds.length;
    this.maxNewTokens = maxNewTokens;
    this.sampler = sampler;
    this.assembler = assembler;
    this.stopTokenIds = stopTokenIds;
    for (const id of promptIds) sampler.observe(id);
  }

  get generatedCount(): number {
    return this.tokens.length - this.promptLength;
  }

  /** Ids not yet fed to the model (the whole prompt at first, then the last generated token). */
  get pendingIds(): number[] {
    return this.tokens.slice(this.pastLength);
  }
}

function emptyPast(layout: LmLayout, batchSize: number): ort.Tensor {
  const dims = [batchSize, layout.kvHeads, 0, layout.headDim];
  return layout.kvType === 'float16' ? new ort.Tensor('float16', new Uint16Array(0), dims) : new ort.Tensor('float32', new Float32Array(0), dims);
}

/**
 * A batch of sequences that share one KV cache: one contiguous past tensor per layer,
 * `[batch, kv_heads, past, head_dim]`. `present` of one step is fed back as `past` of the next
 * untouched (no copies through JavaScript); tensors are dropped as soon as they are replaced.
 *
 * Every sequence of this batch has the same past length. The engine decodes through
 * `BatchScheduler` (scheduler.ts: continuous batching with left padding); this class remains for
 * single-sequence checks in tests (cache versus recomputation).
 */
export class DecodeBatch {
  readonly model: CausalLm;
  readonly sequences: SequenceState[];
  private past: ort.Tensor[] | undefined;
  private readonly decodeIds: BigInt64Array;
  private readonly decodePositions: BigInt64Array;
  private attentionMask: BigInt64Array;
  private released = false;
  private running = false;
  private readonly logitsToKeep = new ort.Tensor('int64', BigInt64Array.of(1n), []);

  constructor(model: CausalLm, sequences: SequenceState[]) {
    this.model = model;
    this.sequences = sequences;
    this.decodeIds = new BigInt64Array(sequences.length);
    this.decodePositions = new BigInt64Array(sequences.length);
    this.attentionMask = new BigInt64Array(sequences.length === 1 ? model.contextLength : 0).fill(1n);
  }

  /**
   * Frees the cache (abort, finish): at once between steps; when a step is running, its inputs
   * stay alive until ONNX Runtime returns, and the step drops everything then.
   */
  release(): void {
    this.released = true;
    if (this.running) return;
    this.dropPast();
  }

  private dropPast(): void {
    if (this.past !== undefined) for (const tensor of this.past) tensor.dispose();
    this.past = undefined;
  }

  /**
   * Runs the model once over every sequence's pending ids and picks each sequence's next token.
   * Returns the picked ids in sequence order (the caller appends them).
   */
  async step(): Promise<number[]> {
    if (this.released) throw new MuaiError('INTERNAL', 'This decode batch was released.');
    const { layout, session } = this.model;
    const batchSize = this.sequences.length;
    const first = this.sequences[0]!;
    const pastLength = first.pastLength;
    const newLength = first.tokens.length - pastLength;
    for (const sequence of this.sequences) {
      if (sequence.pastLength !== pastLength || sequence.tokens.length - sequence.pastLength !== newLength) {
        throw new MuaiError('INTERNAL', 'Sequences of one decode batch must be aligned (ragged batches are not supported yet).');
      }
    }
    const totalLength = pastLength + newLength;
    let idsData: BigInt64Array;
    let positionData: BigInt64Array;
    if (newLength === 1) {
      idsData = this.decodeIds;
      positionData = this.decodePositions;
      for (let b = 0; b < batchSize; b++) {
        idsData[b] = BigInt(this.sequences[b]!.tokens[pastLength]!);
        positionData[b] = BigInt(pastLength);
      }
    } else {
      idsData = new BigInt64Array(batchSize * newLength);
      positionData = new BigInt64Array(batchSize * newLength);
      for (let b = 0; b < batchSize; b++) {
        const tokens = this.sequences[b]!.tokens;
        for (let i = 0; i < newLength; i++) {
          idsData[b * newLength + i] = BigInt(tokens[pastLength + i]!);
          positionData[b * newLength + i] = BigInt(pastLength + i);
        }
      }
    }
    const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', idsData, [batchSize, newLength]) };
    if (layout.hasAttentionMask) {
      const mask = batchSize === 1 && totalLength <= this.attentionMask.length ? this.attentionMask.subarray(0, totalLength) : new BigInt64Array(batchSize * totalLength).fill(1n);
      feeds['attention_mask'] = new ort.Tensor('int64', mask, [batchSize, totalLength]);
    }
    if (layout.hasPositionIds) feeds['position_ids'] = new ort.Tensor('int64', positionData, [batchSize, newLength]);
    if (layout.hasUseCacheBranch) feeds['use_cache_branch'] = new ort.Tensor('bool', Uint8Array.of(pastLength > 0 ? 1 : 0), [1]);
    if (layout.logitsToKeepName !== undefined) feeds[layout.logitsToKeepName] = this.logitsToKeep;
    const past = this.past;
    for (let i = 0; i < layout.pastNames.length; i++) feeds[layout.pastNames[i]!] = past?.[i] ?? emptyPast(layout, batchSize);

    let outputs: ort.InferenceSession.OnnxValueMapType;
    this.running = true;
    try {
      outputs = await session.run(feeds);
    } catch (error) {
      this.dropPast();
      throw new MuaiError('ENGINE_ERROR', `ONNX Runtime failed while running ${this.model.graphPath}: ${(error as Error).message}`, {
        cause: error,
        details: { model: this.model.name },
      });
    } finally {
      this.running = false;
    }
    // The old past was an input of this step only; drop it now.
    this.dropPast();
    if (this.released) {
      // Released (aborted) while the step ran: drop the new cache too.
      for (const name of layout.presentNames) outputs[name]?.dispose();
      outputs['logits']?.dispose();
      throw new MuaiError('REQUEST_ABORTED', 'The decode batch was released while a step ran.');
    }
    this.past = layout.presentNames.map((name) => outputs[name]!);
    for (const sequence of this.sequences) sequence.pastLength = totalLength;

    const logits = outputs['logits']!;
    const vocab = this.model.vocabSize;
    const rows = logits.dims[1] ?? 1;
    const picked: number[] = [];
    for (let b = 0; b < batchSize; b++) {
      const sequence = this.sequences[b]!;
      const offset = (b * rows + rows - 1) * vocab;
      let row: Float32Array;
      if (logits.type === 'float16') {
        row = decodeHalves(logits.data as Uint16Array, offset, vocab, sequence.sampler.scratchRow());
      } else {
        // A view of the last position only: no copy of the [seq, vocab] block.
        row = (logits.data as Float32Array).subarray(offset, offset + vocab);
      }
      picked.push(sequence.sampler.pick(row));
    }
    logits.dispose();
    return picked;
  }
}

/** Runs the graph over `ids` without any cache and returns the last position's logits (float32). Used by tests and checks. */
export async function logitsWithoutCache(model: CausalLm, ids: readonly number[]): Promise<Float32Array> {
  const { layout, session } = model;
  const n = ids.length;
  const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, (id) => BigInt(id)), [1, n]) };
  if (layout.hasAttentionMask) feeds['attention_mask'] = new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]);
  if (layout.hasPositionIds) feeds['position_ids'] = new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(i)), [1, n]);
  if (layout.hasUseCacheBranch) feeds['use_cache_branch'] = new ort.Tensor('bool', Uint8Array.of(0), [1]);
  if (layout.logitsToKeepName !== undefined) feeds[layout.logitsToKeepName] = new ort.Tensor('int64', BigInt64Array.of(1n), []);
  for (const name of layout.pastNames) feeds[name] = emptyPast(layout, 1);
  const outputs = await session.run(feeds);
  const logits = outputs['logits']!;
  const rows = logits.dims[1] ?? 1;
  const offset = (rows - 1) * model.vocabSize;
  const out = new Float32Array(model.vocabSize);
  if (logits.type === 'float16') decodeHalves(logits.data as Uint16Array, offset, model.vocabSize, out);
  else out.set((logits.data as Float32Array).subarray(offset, offset + model.vocabSize));
  return out;
}
