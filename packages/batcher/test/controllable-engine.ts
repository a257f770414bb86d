import type { BatchContext } from '../src/index.js';

/** One call of the batch function, held open until the test settles it. */
export interface HeldBatch<I, O> {
  inputs: I[];
  context: BatchContext;
  resolve(results: ReadonlyArray<O | Error>): void;
  reject(error: unknown): void;
  settled: boolean;
}

/** A batch function whose calls stay pending until the test resolves or rejects them, in any order. */
export function controllableEngine<I, O>() {
  const calls: HeldBatch<I, O>[] = [];
  const batchFn = (inputs: I[], context: BatchContext): Promise<ReadonlyArray<O | Error>> =>
    new Promise((resolve, reject) => {
      const held: HeldBatch<I, O> = {
        inputs: [...inputs],
        context,
        settled: false,
        resolve: (results) => {
          held.settled = true;
          resolve(results);
        },
        reject: (error) => {
          held.settled = true;
          reject(error);
        },
      };
      calls.push(held);
    });
  return { batchFn, calls, pending: () => calls.filter((call) => !call.settled) };
}

/** Lets queued microtasks (promise callbacks, the batcher's dispatch) run. */
export async function settleMicrotasks(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

/** Records how a promise settled, without leaving it unhandled. */
export function track<T>(promise: Promise<T>) {
  const state: { status: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown; settleCount: number } = {
    status: 'pending',
    settleCount: 0,
  };
  promise.then(
    (value) => {
      state.settleCount++;
      state.status = 'resolved';
      state.value = value;
    },
    (error: unknown) => {
      state.settleCount++;
      state.status = 'rejected';
      state.error = error;
    },
  );
  return state;
}
