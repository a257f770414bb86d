import type { StreamChunk } from '@muai/core';

/**
 * Stream chunks from a producer (the scheduler, or the worker thread's messages) to a request's
 * generator; an abort of the signal wakes the reader. Without a signal it only hands items over.
 */
export class ChunkQueue {
  private readonly items: Array<StreamChunk | 'end' | Error> = [];
  private wake: (() => void) | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly onAbort = (): void => this.notify();
  constructor(signal: AbortSignal | undefined) {
    this.signal = signal;
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }
  push(item: StreamChunk | 'end' | Error): void {
    this.items.push(item);
    this.notify();
  }
  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
  /** The next item; 'abort' as soon as the signal fired (chunks not yet read are dropped). */
  async next(): Promise<StreamChunk | 'end' | Error | 'abort'> {
    for (;;) {
      if (this.signal?.aborted) return 'abort';
      const item = this.items.shift();
      if (item !== undefined) return item;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
  dispose(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}
