/**
 * V8 settings `muai serve` applies to its own process (a library must not change its host's GC;
 * the server owns its process and may).
 *
 * `--no-incremental-marking`: onnxruntime-node copies every key/value output of a decode step into
 * a new ArrayBuffer, which V8 counts as external memory. In a process with a real heap (the
 * tokenizer, the server), after an idle moment V8 keeps restarting incremental marking on that
 * external-memory pressure and runs a mark-compact every few steps: measured at 1 024-token
 * context, the step took ~11 ms instead of ~5 ms for a whole request (benchmarks/RESULTS.md,
 * decode, finding 5). Without incremental marking the steps stay at the bare loop's cost; the price
 * is that the rare full GC is one pause instead of slices, small for a server's heap of tens of MB.
 * `MUAI_V8_INCREMENTAL_MARKING=1` keeps V8's default.
 */
import v8 from 'node:v8';

/** The V8 flags `muai serve` sets for `env` (empty when the user keeps V8's defaults). */
export function serveV8Flags(env: NodeJS.ProcessEnv): string[] {
  return env['MUAI_V8_INCREMENTAL_MARKING'] === '1' ? [] : ['--no-incremental-marking'];
}

/** Applies serveV8Flags before any engine starts (they hold for worker threads started later too). */
export function applyServeV8Flags(env: NodeJS.ProcessEnv): string[] {
  const flags = serveV8Flags(env);
  for (const flag of flags) v8.setFlagsFromString(flag);
  return flags;
}
