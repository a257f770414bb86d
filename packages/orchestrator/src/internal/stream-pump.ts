/**
 * Hands the steps of an async iterator to a consumer while the iterator itself is pulled by a task
 * that runs elsewhere (inside an engine-call span), so that the span stays open until the stream
 * ends and everything the engine starts while streaming is parented under it.
 */
type Demand<T> =
  | { kind: 'next'; resolve: (step: IteratorResult<T>) => void; reject: (error: unknown) => void }
  | { kind: 'stop'; resolve: (step: IteratorResult<T>) => void; reject: (error: unknown) => void };

export class StreamPump<T> {
  private readonly demands: Array<Demand<T>> = [];
  private wake: (() => void) | undefined;
  private finished = false;

  /** Consumer side: the next step, pulled by the producer task. */
  next(): Promise<IteratorResult<T>> {
    return this.ask('next');
  }

  /** Consumer side: stops the stream early (calls the source's `return()` from the producer task). */
  return(): Promise<IteratorResult<T>> {
    return this.ask('stop');
  }

  /**
   * Producer side: serves demands from `iterator` until it is done, fails, or is stopped. Resolves
   * when the stream is over; rejects with the source's error (after handing it to the consumer).
   */
  async run(iterator: AsyncIterator<T>): Promise<void> {
    for (;;) {
      const demand = await this.nextDemand();
      if (demand.kind === 'stop') {
        this.finished = true;
        try {
          await iterator.return?.();
        } finally {
          demand.resolve({ done: true, value: undefined });
        }
        return;
      }
      let step: IteratorResult<T>;
      try {
        step = await iterator.next();
      } catch (error) {
        this.finished = true;
        demand.reject(error);
        for (const pending of this.demands.splice(0)) pending.resolve({ done: true, value: undefined });
        throw error;
      }
      if (step.done) this.finished = true;
      demand.resolve(step);
      if (step.done) {
        for (const pending of this.demands.splice(0)) pending.resolve({ done: true, value: undefined });
        return;
      }
    }
  }

  private ask(kind: 'next' | 'stop'): Promise<IteratorResult<T>> {
    if (this.finished) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => {
      this.demands.push({ kind, resolve, reject });
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    });
  }

  private async nextDemand(): Promise<Demand<T>> {
    while (this.demands.length === 0) await new Promise<void>((wake) => (this.wake = wake));
    return this.demands.shift() as Demand<T>;
  }
}
