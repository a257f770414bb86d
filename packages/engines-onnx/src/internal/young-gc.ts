import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * A young-generation garbage collection (a scavenge) on demand, for the decode loop.
 *
 * Why: onnxruntime-node returns every `present` key/value output as a new external ArrayBuffer
 * (at position 512 on the bench model: 12 × 256 KiB per step), and the previous step's tensors are
 * garbage as soon as the next step has run. A bare decode loop allocates so little else that V8
 * frees those buffers with frequent scavenges. A process with a real heap beside it (a tokenizer's
 * vocabulary, a server) crosses V8's external-memory limit first, and V8 answers with incremental
 * marking and a full mark-compact every few steps, whose cost grows with the live heap: measured
 * 27–31 mark-compacts over 256 steps at 512 against 1 for the bare loop, and 1–2 ms more CPU per
 * step (benchmarks/RESULTS.md, decode). A scavenge right after each step frees the dead buffers
 * while they are young (it costs about 0.1 ms: only the step's few live objects are copied) and the
 * mark-compacts disappear.
 *
 * V8 gives no minor-GC call without `--expose-gc`; `gc` exposed in a fresh context collects the
 * same isolate. The flag is set only while that context is made and restored right after, so the
 * application's own global scope never gets a `gc` it did not ask for.
 */
export type YoungGc = () => void;

let cached: YoungGc | null | undefined;

/** The scavenge function, or undefined when this runtime does not allow one (then nothing is done). */
export function youngGc(): YoungGc | undefined {
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  try {
    let gc = (globalThis as { gc?: unknown }).gc;
    if (typeof gc !== 'function') {
      v8.setFlagsFromString('--expose-gc');
      try {
        gc = vm.runInNewContext('gc') as unknown;
      } finally {
        v8.setFlagsFromString('--no-expose-gc');
      }
    }
    if (typeof gc === 'function') {
      const collect = gc as (options: { type: 'minor'; execution: 'sync' }) => void;
      cached = () => collect({ type: 'minor', execution: 'sync' });
    }
  } catch {
    // A runtime that refuses the flag (or has no vm contexts): decoding still works, with V8's own GC timing.
  }
  return cached ?? undefined;
}
