import * as ort from 'onnxruntime-node';
import { MuaiError } from '@muai/core';
import type { KvCache, KvSequence } from '@muai/kv-cache';
import { decodeHalves } from './half.js';
import type { CausalLm, SequenceState } from './decoder.js';
import type { LmLayout } from './lm-layout.js';

type KvData = Float32Array | Uint16Array;

/** How one request takes part in continuous batching. */
export interface ScheduledEntry {
  readonly sequence: SequenceState;
  /** True when the caller gave up (abort, stream closed): the row leaves at the next step boundary. */
  cancelled(): boolean;
  /** A token was picked for the sequence; returns true when the sequence is finished. */
  onToken(tokenId: number): boolean;
  /** The sequence left the batch (finished, cancelled) or failed (`error`); called once. */
  onEnd(error?: MuaiError): void;
}

export interface SchedulerOptions {
  /** Most sequences decoded in one step. */
  maxBatchSize: number;
  /**
   * Most key/value token slots the running batch may reach: rows × the longest row's final length
   * (prompt + max new tokens), left padding included. Bounds the batch's memory before it grows.
   */
  maxBatchTokens: number;
  /** False: sequences of different lengths never share a step (graphs that cannot take left padding). */
  raggedBatching: boolean;
  /** The prefix store, or undefined when the cache is disabled. */
  kvCache: KvCache | undefined;
  /**
   * Called after each decode step, once the previous step's key/value tensors are released, with
   * the bytes ONNX Runtime returned for the step (presents and logits, fresh buffers each step): the
   * engine runs a young-generation GC there so they are freed while young (see young-gc.ts).
   */
  afterStep?: (outputBytes: number) => void;
}

export interface SchedulerStats {
  /** Sequences in the running batch now. */
  running: number;
  /** Requests waiting to join. */
  waiting: number;
  /** Decode steps run (one session.run over the whole batch). */
  steps: number;
  /** Sequences decoded, summed over steps (steps × mean batch size). */
  sequenceSteps: number;
  /** Prefills run (one per joining sequence). */
  prefills: number;
  /** Prompt tokens taken from the prefix cache instead of being computed. */
  prefixTokensReused: number;
  /** Milliseconds spent copying cached prefix blocks into prefill pasts (summed over prefills). */
  prefixCopyMs?: number;
  /** Milliseconds spent in prefill session runs (summed; only the part after a cached prefix is computed). */
  prefillRunMs?: number;
  /** Times the running batch's tensors were rebuilt because its composition changed. */
  rebuilds: number;
  /**
   * Decode steps whose run failed. A step of several rows is then run again in smaller groups of
   * rows, so that only the rows that fail on their own end with ENGINE_ERROR (see `BatchScheduler`).
   */
  failedSteps?: number;
  /** Sequences ended with ENGINE_ERROR because their decode step failed even when run alone. */
  failedSequences?: number;
  /** Largest batch decoded in one step. */
  maxBatchSeen: number;
  /** Decode steps by batch size (`{ 3: 120 }`: 120 steps decoded 3 sequences), for a batch-size histogram. */
  stepsBySize: Record<number, number>;
  /** Key/value token slots the running batch holds now (rows × padded length). */
  batchTokens: number;
  /** The most it may hold (`maxBatchTokens`): `batchTokens / maxBatchTokens` is its KV usage. */
  maxBatchTokens: number;
}

interface Row {
  entry: ScheduledEntry;
  done: boolean;
  /** Join order in this scheduler (1, 2, ...), the sequence number error messages name. */
  id: number;
}

/** Row `index` of the tensors `from`, whose padded length is `length`: a source for `copyRows`. */
interface RowSource {
  from: ort.Tensor[];
  index: number;
  length: number;
}

/** A decode step that ran: its rows, their present tensors (padded length `length`) and logits. */
interface DecodeRun {
  rows: Row[];
  present: ort.Tensor[];
  length: number;
  logits: ort.Tensor;
}

function engineError(model: CausalLm, error: unknown): MuaiError {
  if (MuaiError.isInstance(error)) return error;
  return new MuaiError('ENGINE_ERROR', `ONNX Runtime failed while running ${model.graphPath}: ${(error as Error).message}`, {
    cause: error,
    details: { model: model.name },
  });
}

function allocate(layout: LmLayout, elements: number): KvData {
  return layout.kvType === 'float16' ? new Uint16Array(elements) : new Float32Array(elements);
}

function kvTensor(layout: LmLayout, data: KvData, batch: number, length: number): ort.Tensor {
  const dims = [batch, layout.kvHeads, length, layout.headDim];
  return layout.kvType === 'float16' ? new ort.Tensor('float16', data as Uint16Array, dims) : new ort.Tensor('float32', data as Float32Array, dims);
}

/**
 * Continuous batching for one language model. Requests wait in a FIFO queue; between decode steps
 * waiting requests are prefilled (each alone, reusing cached prefix blocks) and merged into the
 * running batch, and finished or cancelled sequences leave it. The running batch keeps its
 * keys/values as one `[batch, kvHeads, length, headDim]` tensor per layer (left padded to the
 * longest row) that ONNX Runtime returns as `present` and gets back as `past` untouched; the
 * tensors are copied only when the batch's composition changes.
 *
 * One `session.run` serves every row of a step, so a step that fails is run again for halves of
 * the batch (and halves of a half that fails again, down to single rows), each from a copy of its
 * rows' keys/values: a row that fails alone ends with a coded ENGINE_ERROR, every other row gets
 * the token the step would have given it, and the batch goes on without the failed rows.
 */
export class BatchScheduler {
  readonly model: CausalLm;
  readonly options: SchedulerOptions;
  private readonly waiting: ScheduledEntry[] = [];
  private rows: Row[] = [];
  /** The running batch's past, one tensor per past name; undefined when no row runs. */
  private past: ort.Tensor[] | undefined;
  /** Padded length of `past` (the longest row's cached tokens). */
  private length = 0;
  private looping = false;
  private closed = false;
  /** Sequences that joined the running batch so far (numbers `Row.id`). */
  private joinedCount = 0;
  private readonly counters: Required<Omit<SchedulerStats, 'running' | 'waiting' | 'stepsBySize' | 'batchTokens' | 'maxBatchTokens'>> = {
    steps: 0,
    sequenceSteps: 0,
    prefills: 0,
    prefixTokensReused: 0,
    prefixCopyMs: 0,
    prefillRunMs: 0,
    rebuilds: 0,
    failedSteps: 0,
    failedSequences: 0,
    maxBatchSeen: 0,
  };
  private readonly stepsBySize: Record<number, number> = {};
  private readonly logitsToKeep = new ort.Tensor('int64', BigInt64Array.of(1n), []);

  constructor(model: CausalLm, options: SchedulerOptions) {
    this.model = model;
    this.options = options;
  }

  stats(): SchedulerStats {
    return {
      running: this.rows.length,
      waiting: this.waiting.length,
      ...this.counters,
      stepsBySize: { ...this.stepsBySize },
      batchTokens: this.past ? this.rows.length * this.length : 0,
      maxBatchTokens: this.options.maxBatchTokens,
    };
  }

  /**
   * Changes the batch limits between decode steps (what an auto-tuner adjusts). Sequences already
   * running keep running even above a lowered limit; waiting ones join only while the new limits
   * allow, so no request is dropped or failed.
   */
  setLimits(limits: { maxBatchSize?: number; maxBatchTokens?: number }): void {
    for (const [key, value] of Object.entries(limits)) {
      if (value !== undefined && !(Number.isInteger(value) && value >= 1)) throw new MuaiError('CONFIG_INVALID', `${key} must be a positive integer (got ${String(value)}).`);
    }
    if (limits.maxBatchSize !== undefined) this.options.maxBatchSize = limits.maxBatchSize;
    if (limits.maxBatchTokens !== undefined) this.options.maxBatchTokens = limits.maxBatchTokens;
  }

  submit(entry: ScheduledEntry): void {
    if (this.closed) {
      entry.onEnd(new MuaiError('ENGINE_UNAVAILABLE', `Model "${this.model.name}" was unloaded. Load it again.`));
      return;
    }
    this.waiting.push(entry);
    if (!this.looping) {
      this.looping = true;
      void this.loop();
    }
  }

  /** Ends every request (unload): waiting ones fail, running ones fail at the next boundary. */
  close(): void {
    this.closed = true;
    const error = new MuaiError('ENGINE_UNAVAILABLE', `Model "${this.model.name}" was unloaded while this request ran. Load it again and retry.`);
    for (const entry of this.waiting.splice(0)) entry.onEnd(error);
    if (!this.looping) this.failRunning(error);
  }

  private async loop(): Promise<void> {
    try {
      while (this.rows.length > 0 || this.waiting.length > 0) {
        if (this.closed) {
          this.failRunning(new MuaiError('ENGINE_UNAVAILABLE', `Model "${this.model.name}" was unloaded while this request ran. Load it again and retry.`));
          break;
        }
        this.leave();
        await this.admit();
        this.leave();
        if (this.rows.length > 0) await this.step();
      }
    } catch (error) {
      this.failRunning(engineError(this.model, error));
      for (const entry of this.waiting.splice(0)) entry.onEnd(engineError(this.model, error));
    }
    // Synchronous with the last emptiness check: a submit after this starts a new loop.
    this.looping = false;
    if (this.waiting.length > 0 && !this.closed) {
      this.looping = true;
      void this.loop();
    }
  }

  private failRunning(error: MuaiError): void {
    const rows = this.rows;
    this.rows = [];
    this.dropPast();
    this.length = 0;
    for (const row of rows) row.entry.onEnd(error);
  }

  private dropPast(): void {
    if (this.past !== undefined) for (const tensor of this.past) tensor.dispose();
    this.past = undefined;
  }

  /** Removes finished and cancelled rows; rebuilds the batch tensors only when a row left. */
  private leave(): void {
    const keep: Row[] = [];
    const gone: Row[] = [];
    for (const row of this.rows) (row.done || row.entry.cancelled() ? gone : keep).push(row);
    if (gone.length === 0) return;
    const cache = this.options.kvCache;
    if (cache !== undefined && this.past !== undefined) {
      // Keep the full blocks of prompt + generated tokens for follow-ups (multi-turn chat).
      this.rows.forEach((row, index) => {
        if (gone.includes(row)) this.storeRow(cache, row.entry.sequence, index);
      });
    }
    if (keep.length === 0) {
      this.rows = [];
      this.dropPast();
      this.length = 0;
    } else {
      const newLength = Math.max(...keep.map((row) => row.entry.sequence.pastLength));
      const oldIndex = new Map(this.rows.map((row, index) => [row, index]));
      this.rebuild(
        keep.map((row) => ({ from: this.past!, index: oldIndex.get(row)!, length: this.length })),
        newLength,
      );
      this.rows = keep;
    }
    for (const row of gone) row.entry.onEnd();
  }

  /** Replaces the batch tensors with `copyRows(sources, newLength)`; disposes the old ones. */
  private rebuild(sources: RowSource[], newLength: number): void {
    const next = this.copyRows(sources, newLength);
    this.dropPast();
    this.past = next;
    this.length = newLength;
    this.counters.rebuilds++;
  }

  /**
   * New past tensors from rows of source tensors: row `i` of the result is row `sources[i].index`
   * of `sources[i].from` (padded length `sources[i].length`), right aligned (left padded) to
   * `newLength`. The sources are left as they are.
   */
  private copyRows(sources: RowSource[], newLength: number): ort.Tensor[] {
    const { layout } = this.model;
    const heads = layout.kvHeads;
    const dim = layout.headDim;
    const batch = sources.length;
    const next: ort.Tensor[] = [];
    for (let t = 0; t < layout.pastNames.length; t++) {
      const data = allocate(layout, batch * heads * newLength * dim);
      for (let b = 0; b < batch; b++) {
        const source = sources[b]!;
        const src = source.from[t]!.data as KvData;
        const copy = Math.min(source.length, newLength); // the last `copy` columns of the source row
        for (let h = 0; h < heads; h++) {
          const from = ((source.index * heads + h) * source.length + (source.length - copy)) * dim;
          const to = ((b * heads + h) * newLength + (newLength - copy)) * dim;
          data.set(src.subarray(from, from + copy * dim) as never, to);
        }
      }
      next.push(kvTensor(layout, data, batch, newLength));
    }
    return next;
  }

  /** Prefills waiting requests that fit and merges them into the running batch. */
  private async admit(): Promise<void> {
    const { maxBatchSize, maxBatchTokens, raggedBatching } = this.options;
    const joined: Array<{ entry: ScheduledEntry; present: ort.Tensor[]; length: number }> = [];
    let length = this.length;
    const finalLength = (entry: ScheduledEntry): number => entry.sequence.promptLength + entry.sequence.maxNewTokens;
    let reserved = Math.max(0, ...this.rows.map((row) => finalLength(row.entry)));
    while (this.waiting.length > 0 && !this.closed) {
      const entry = this.waiting[0]!;
      if (entry.cancelled()) {
        this.waiting.shift();
        entry.onEnd();
        continue;
      }
      const count = this.rows.length + joined.length;
      const promptLength = entry.sequence.tokens.length;
      if (count > 0) {
        if (count >= maxBatchSize) break;
        if (!raggedBatching && promptLength !== length) break;
        if ((count + 1) * Math.max(reserved, finalLength(entry)) > maxBatchTokens) break;
      }
      this.waiting.shift();
      let present: ort.Tensor[] | undefined;
      try {
        present = await this.prefill(entry);
      } catch (error) {
        entry.onEnd(engineError(this.model, error));
        continue;
      }
      if (present === undefined) continue; // finished at its first token, or cancelled
      joined.push({ entry, present, length: promptLength });
      length = Math.max(length, promptLength);
      reserved = Math.max(reserved, finalLength(entry));
    }
    if (joined.length === 0) return;
    if (this.past === undefined && joined.length === 1) {
      // One request alone (the usual case at low load): its prefill's present is the batch past as it
      // is, with no copy (at a 1 024-token prompt that copy was 6 MiB of fresh buffers per request).
      const [join] = joined;
      this.past = join!.present;
      this.length = join!.length;
      this.rows.push({ entry: join!.entry, done: false, id: ++this.joinedCount });
      return;
    }
    const sources: RowSource[] = [];
    if (this.past !== undefined) this.rows.forEach((_, index) => sources.push({ from: this.past!, index, length: this.length }));
    for (const join of joined) sources.push({ from: join.present, index: 0, length: join.length });
    this.rebuild(sources, length);
    for (const join of joined) {
      for (const tensor of join.present) tensor.dispose();
      this.rows.push({ entry: join.entry, done: false, id: ++this.joinedCount });
    }
  }

  /**
   * Runs one sequence's prompt alone (only the part after its cached prefix), stores its full
   * prompt blocks in the prefix cache, and picks its first token. Returns its present tensors
   * (`[1, kvHeads, promptLength, headDim]`), or undefined when it already finished.
   */
  private async prefill(entry: ScheduledEntry): Promise<ort.Tensor[] | undefined> {
    const { layout, session } = this.model;
    const sequence = entry.sequence;
    const prompt = sequence.tokens;
    const total = prompt.length;
    const cache = this.options.kvCache;
    let kvSequence: KvSequence | undefined;
    let cached = 0;
    const pastFeeds: ort.Tensor[] = [];
    try {
      if (cache !== undefined) {
        kvSequence = cache.match(prompt);
        cached = kvSequence.cachedLength;
      }
      const copyStart = performance.now();
      for (let t = 0; t < layout.pastNames.length; t++) {
        const data = allocate(layout, layout.kvHeads * cached * layout.headDim);
        if (cached > 0) cache!.readPrefixInto(kvSequence!, t >> 1, t & 1 ? 'value' : 'key', { data, totalLength: cached });
        pastFeeds.push(kvTensor(layout, data, 1, cached));
      }
      this.counters.prefixCopyMs += performance.now() - copyStart;
      const newLength = total - cached;
      const ids = new BigInt64Array(newLength);
      const positions = new BigInt64Array(newLength);
      for (let i = 0; i < newLength; i++) {
        ids[i] = BigInt(prompt[cached + i]!);
        positions[i] = BigInt(cached + i);
      }
      const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', ids, [1, newLength]) };
      if (layout.hasAttentionMask) feeds['attention_mask'] = new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]);
      if (layout.hasPositionIds) feeds['position_ids'] = new ort.Tensor('int64', positions, [1, newLength]);
      if (layout.hasUseCacheBranch) feeds['use_cache_branch'] = new ort.Tensor('bool', Uint8Array.of(cached > 0 ? 1 : 0), [1]);
      if (layout.logitsToKeepName !== undefined) feeds[layout.logitsToKeepName] = this.logitsToKeep;
      layout.pastNames.forEach((name, t) => (feeds[name] = pastFeeds[t]!));
      this.counters.prefills++;
      this.counters.prefixTokensReused += cached;
      const runStart = performance.now();
      const outputs = await session.run(feeds);
      this.counters.prefillRunMs += performance.now() - runStart;
      const present = layout.presentNames.map((name) => outputs[name]!);
      const logits = outputs['logits']!;
      if (cache !== undefined && kvSequence !== undefined) this.store(cache, kvSequence, prompt, present);
      if (entry.cancelled()) {
        for (const tensor of present) tensor.dispose();
        logits.dispose();
        entry.onEnd();
        return undefined;
      }
      sequence.pastLength = total;
      const tokenId = this.pick(sequence, logits, 0);
      logits.dispose();
      if (entry.onToken(tokenId)) {
        for (const tensor of present) tensor.dispose();
        entry.onEnd();
        return undefined;
      }
      return present;
    } finally {
      for (const tensor of pastFeeds) tensor.dispose();
      if (kvSequence !== undefined) cache!.release(kvSequence);
    }
  }

  /**
   * Keeps the prompt's full blocks in the prefix cache. When the budget is held by live sequences
   * (CACHE_FULL), the prompt is served without being stored: same output, no reuse.
   */
  private store(cache: KvCache, kvSequence: KvSequence, prompt: readonly number[], present: ort.Tensor[]): void {
    const blockSize = cache.stats().blockSize;
    const full = Math.floor(prompt.length / blockSize) * blockSize;
    if (full <= kvSequence.length) return;
    try {
      cache.append(kvSequence, prompt.slice(kvSequence.length, full));
    } catch (error) {
      if (MuaiError.isInstance(error) && error.code === 'CACHE_FULL') return;
      throw error;
    }
    const { layout } = this.model;
    for (let t = 0; t < layout.presentNames.length; t++) {
      cache.writeFrom(kvSequence, t >> 1, t & 1 ? 'value' : 'key', { data: present[t]!.data as KvData, totalLength: prompt.length });
    }
    cache.commit(kvSequence);
  }

  /** Writes the full blocks of a leaving row (prompt and generated tokens with keys/values) to the prefix cache. */
  private storeRow(cache: KvCache, sequence: SequenceState, batchIndex: number): void {
    const known = Math.min(sequence.pastLength, sequence.tokens.length);
    const blockSize = cache.stats().blockSize;
    const full = Math.floor(known / blockSize) * blockSize;
    if (full <= sequence.promptLength) return; // the prompt's blocks were stored after the prefill
    const kvSequence = cache.match(sequence.tokens.slice(0, full + 1), { recordStats: false });
    try {
      if (kvSequence.length >= full) return;
      cache.append(kvSequence, sequence.tokens.slice(kvSequence.length, full));
      const { layout } = this.model;
      const tokenOffset = this.length - sequence.pastLength;
      for (let t = 0; t < layout.pastNames.length; t++) {
        cache.writeFrom(kvSequence, t >> 1, t & 1 ? 'value' : 'key', { data: this.past![t]!.data as KvData, totalLength: this.length, batchIndex, tokenOffset });
      }
      cache.commit(kvSequence);
    } catch (error) {
      if (!(MuaiError.isInstance(error) && error.code === 'CACHE_FULL')) throw error;
    } finally {
      cache.release(kvSequence);
    }
  }

  private pick(sequence: SequenceState, logits: ort.Tensor, batchIndex: number): number {
    const vocab = this.model.vocabSize;
    const rows = logits.dims[1] ?? 1;
    const offset = (batchIndex * rows + rows - 1) * vocab;
    const row =
      logits.type === 'float16'
        ? decodeHalves(logits.data as Uint16Array, offset, vocab, sequence.sampler.scratchRow())
        : (logits.data as Float32Array).subarray(offset, offset + vocab);
    return sequence.sampler.pick(row);
  }

  /**
   * One decode step over every running row: each feeds its last token at its own position. When
   * the batched run fails, `retryInGroups` finds the rows that fail on their own; the others get
   * their token as if nothing had happened.
   */
  private async step(): Promise<void> {
    const rows = this.rows;
    let runs: DecodeRun[];
    try {
      runs = [await this.decode(rows, this.past!, this.length)];
    } catch (error) {
      runs = await this.retryInGroups(rows, engineError(this.model, error));
    }
    // Counted before adopt() copies and disposes the presents of a split step.
    let outputBytes = 0;
    for (const run of runs) {
      for (const tensor of run.present) outputBytes += (tensor.data as KvData).byteLength;
      outputBytes += (run.logits.data as KvData).byteLength;
    }
    const decoded = runs.flatMap((run) => run.rows);
    for (const row of decoded) row.entry.sequence.pastLength++;
    if (runs.length === 1 && decoded.length === rows.length) {
      // The usual case: the step's present becomes the batch's past untouched.
      this.dropPast();
      this.past = runs[0]!.present;
      this.length = runs[0]!.length;
    } else {
      this.adopt(runs);
    }
    this.countStep(decoded.length);
    for (const run of runs) {
      run.rows.forEach((row, b) => {
        if (!row.entry.cancelled() && row.entry.onToken(this.pick(row.entry.sequence, run.logits, b))) row.done = true;
      });
      run.logits.dispose();
    }
    // The previous step's keys/values and this step's logits are garbage now: free them while young.
    this.options.afterStep?.(outputBytes);
  }

  private countStep(batch: number): void {
    if (batch === 0) return;
    this.counters.steps++;
    this.counters.sequenceSteps += batch;
    this.counters.maxBatchSeen = Math.max(this.counters.maxBatchSeen, batch);
    this.stepsBySize[batch] = (this.stepsBySize[batch] ?? 0) + 1;
  }

  /**
   * Runs the decode step of `rows`, whose keys/values are `past` (padded length `length`, row `b`
   * of `past` belongs to `rows[b]`). Does not change the scheduler's state; `past` stays as it is.
   */
  private async decode(rows: readonly Row[], past: ort.Tensor[], length: number): Promise<DecodeRun> {
    const { layout, session } = this.model;
    const batch = rows.length;
    const total = length + 1;
    const ids = new BigInt64Array(batch);
    const positions = new BigInt64Array(batch);
    const mask = new BigInt64Array(batch * total);
    for (let b = 0; b < batch; b++) {
      const sequence = rows[b]!.entry.sequence;
      ids[b] = BigInt(sequence.tokens[sequence.pastLength]!);
      positions[b] = BigInt(sequence.pastLength);
      mask.fill(1n, b * total + (length - sequence.pastLength), (b + 1) * total);
    }
    const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', ids, [batch, 1]) };
    if (layout.hasAttentionMask) feeds['attention_mask'] = new ort.Tensor('int64', mask, [batch, total]);
    if (layout.hasPositionIds) feeds['position_ids'] = new ort.Tensor('int64', positions, [batch, 1]);
    if (layout.hasUseCacheBranch) feeds['use_cache_branch'] = new ort.Tensor('bool', Uint8Array.of(1), [1]);
    if (layout.logitsToKeepName !== undefined) feeds[layout.logitsToKeepName] = this.logitsToKeep;
    layout.pastNames.forEach((name, t) => (feeds[name] = past[t]!));
    const outputs = await session.run(feeds);
    return { rows: [...rows], present: layout.presentNames.map((name) => outputs[name]!), length: total, logits: outputs['logits']! };
  }

  /**
   * The batched step of `rows` failed with `error`. Runs it again for each half of the rows, and
   * again for each half of a half that fails, down to single rows; each group's past is a copy of
   * its rows out of the running batch's past, which stays untouched until every retry settled. A
   * row that fails alone ends with ENGINE_ERROR; returns the runs that succeeded, in row order (the
   * failed rows are in none of them). Costs up to 2 × rows - 2 extra runs when every row fails,
   * about 2 × log2(rows) when one does, none of them when a transient failure is gone.
   */
  private async retryInGroups(rows: Row[], error: MuaiError): Promise<DecodeRun[]> {
    this.counters.failedSteps++;
    const position = new Map(rows.map((row, index) => [row, index]));
    const runs: DecodeRun[] = [];
    const failed: Array<{ row: Row; error: MuaiError }> = [];
    const settle = async (group: Row[], groupError: MuaiError): Promise<void> => {
      if (group.length === 1) {
        failed.push({ row: group[0]!, error: groupError });
        return;
      }
      const middle = Math.ceil(group.length / 2);
      for (const half of [group.slice(0, middle), group.slice(middle)]) {
        try {
          runs.push(await this.decodeGroup(half, position));
        } catch (halfError) {
          await settle(half, engineError(this.model, halfError));
        }
      }
    };
    await settle(rows, error);
    // The failed rows are not in `runs`: `step` builds the batch without them.
    this.counters.failedSequences += failed.length;
    for (const item of failed) item.row.entry.onEnd(this.sequenceError(item.row, item.error, rows.length));
    return runs;
  }

  /**
   * The decode step of some rows of the running batch (`position`: each row's index in it), from a
   * copy of their keys/values padded to the longest of them.
   */
  private async decodeGroup(group: readonly Row[], position: ReadonlyMap<Row, number>): Promise<DecodeRun> {
    const length = Math.max(...group.map((row) => row.entry.sequence.pastLength));
    const past = this.copyRows(
      group.map((row) => ({ from: this.past!, index: position.get(row)!, length: this.length })),
      length,
    );
    try {
      return await this.decode(group, past, length);
    } finally {
      for (const tensor of past) tensor.dispose();
    }
  }

  /** Makes the rows of `runs` the running batch, their presents its past; disposes the presents. */
  private adopt(runs: DecodeRun[]): void {
    const rows = runs.flatMap((run) => run.rows);
    if (rows.length === 0) {
      this.rows = [];
      this.dropPast();
      this.length = 0;
    } else {
      const sources = runs.flatMap((run) => run.rows.map((_, index) => ({ from: run.present, index, length: run.length })));
      this.rebuild(sources, Math.max(...rows.map((row) => row.entry.sequence.pastLength)));
      this.rows = rows;
    }
    for (const run of runs) for (const tensor of run.present) tensor.dispose();
  }

  /** What a sequence whose decode step failed on its own is told: which one, and what to do. */
  private sequenceError(row: Row, cause: MuaiError, batch: number): MuaiError {
    const sequence = row.entry.sequence;
    const generated = sequence.tokens.length - sequence.promptLength;
    const alone = batch > 1 ? `, also when run apart from the other ${batch - 1} sequence(s) of its batch (they continue)` : '';
    return new MuaiError(
      'ENGINE_ERROR',
      `A decode step failed for sequence #${row.id} of model "${this.model.name}" (prompt of ${sequence.promptLength} tokens, ${generated} generated)${alone}: ${cause.message} ` +
        'Retry the request; if it fails again, shorten the prompt or max_tokens, or check the model files.',
      { cause, details: { model: this.model.name, sequence: row.id, promptTokens: sequence.promptLength, generatedTokens: generated } },
    );
  }
}

/**
 * Whether the graph takes several new tokens on top of a non-empty past (prefilling only the part
 * of a prompt after a cached prefix). Graphs from onnxruntime-genai's model builder, for one, accept
 * either a prefill without past or one token with past. A two-token probe over a one-token past.
 */
export async function supportsChunkedPrefill(model: CausalLm): Promise<boolean> {
  const { layout, session } = model;
  const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', BigInt64Array.of(0n, 0n), [1, 2]) };
  if (layout.hasAttentionMask) feeds['attention_mask'] = new ort.Tensor('int64', BigInt64Array.of(1n, 1n, 1n), [1, 3]);
  if (layout.hasPositionIds) feeds['position_ids'] = new ort.Tensor('int64', BigInt64Array.of(1n, 2n), [1, 2]);
  if (layout.hasUseCacheBranch) feeds['use_cache_branch'] = new ort.Tensor('bool', Uint8Array.of(1), [1]);
  if (layout.logitsToKeepName !== undefined) feeds[layout.logitsToKeepName] = new ort.Tensor('int64', BigInt64Array.of(1n), []);
  for (const name of layout.pastNames) feeds[name] = kvTensor(layout, allocate(layout, layout.kvHeads * layout.headDim), 1, 1);
  try {
    const outputs = await session.run(feeds);
    const ok = layout.presentNames.every((name) => outputs[name]?.dims[2] === 3);
    for (const value of Object.values(outputs)) value.dispose();
    return ok;
  } catch {
    return false;
  }
}
