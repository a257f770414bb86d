/**
 * Turns generated token ids into text deltas, one token at a time.
 *
 * Incremental detokenization: a token's text can depend on its neighbours (leading-space rules) and
 * a multi-byte character can be split over byte-fallback tokens, so text is never decoded token by
 * token. The assembler decodes a short window of recent ids twice (with and without the newest
 * tokens) and emits the new suffix only when it does not end with U+FFFD (an unfinished
 * character). The window moves forward after each emission, so each step costs O(1), not O(n).
 *
 * Stop sequences: text that could still be the start of a stop sequence is held back until it is
 * resolved; when a stop sequence completes, the text before it is emitted and the stop text is
 * dropped. A stop sequence spanning several tokens is found because held-back text always
 * contains the start of any stop sequence that could still complete.
 */
export class TextAssembler {
  private readonly decode: (ids: number[]) => string;
  private readonly stops: readonly string[];
  private readonly ids: number[] = [];
  private prefixOffset = 0;
  private readOffset = 0;
  private pending = '';
  private stopped = false;

  constructor(decode: (ids: number[]) => string, stops: readonly string[] = []) {
    this.decode = decode;
    this.stops = stops.filter((stop) => stop.length > 0);
  }

  /** True once a stop sequence has been seen; later pushes add nothing. */
  get hasStopped(): boolean {
    return this.stopped;
  }

  /** Adds one token; returns the text that is safe to emit now, and whether a stop sequence completed. */
  push(tokenId: number): { text: string; stopped: boolean } {
    if (this.stopped) return { text: '', stopped: true };
    this.ids.push(tokenId);
    const prefixText = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const newText = this.decode(this.ids.slice(this.prefixOffset));
    if (newText.length <= prefixText.length || newText.endsWith('\uFFFD')) return { text: '', stopped: false };
    const delta = newText.slice(prefixText.length);
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    return this.accept(delta);
  }

  /** Ends the text: emits what was held back, including an unfinished character. */
  finish(): { text: string; stopped: boolean } {
    if (this.stopped) return { text: '', stopped: true };
    let tail = '';
    if (this.readOffset < this.ids.length) {
      const prefixText = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
      const newText = this.decode(this.ids.slice(this.prefixOffset));
      if (newText.length > prefixText.length) tail = newText.slice(prefixText.length);
      this.prefixOffset = this.readOffset = this.ids.length;
    }
    const result = this.accept(tail);
    if (result.stopped) return result;
    const text = result.text + this.pending;
    this.pending = '';
    return { text, stopped: false };
  }

  private accept(delta: string): { text: string; stopped: boolean } {
    if (this.stops.length === 0) return { text: delta, stopped: false };
    const buffer = this.pending + delta;
    let stopAt = -1;
    for (const stop of this.stops) {
      const at = buffer.indexOf(stop);
      if (at !== -1 && (stopAt === -1 || at < stopAt)) stopAt = at;
    }
    if (stopAt !== -1) {
      this.stopped = true;
      this.pending = '';
      return { text: buffer.slice(0, stopAt), stopped: true };
    }
    const hold = this.longestStopPrefixSuffix(buffer);
    this.pending = buffer.slice(buffer.length - hold);
    return { text: buffer.slice(0, buffer.length - hold), stopped: false };
  }

  /** Length of the longest suffix of `text` that is a proper prefix of some stop sequence. */
  private longestStopPrefixSuffix(text: string): number {
    let best = 0;
    for (const stop of this.stops) {
      const limit = Math.min(stop.length - 1, text.length);
      for (let length = limit; length > best; length--) {
        if (text.endsWith(stop.slice(0, length))) {
          best = length;
          break;
        }
      }
    }
    return best;
  }
}
