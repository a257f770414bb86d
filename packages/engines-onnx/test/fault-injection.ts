/**
 * Recognising the rows of a `session.run` for fault injection (step-failure.test.ts), shared by the
 * in-process test and the worker script it builds (faulty-worker-entry.ts), so no test framework here.
 */

/** The feeds of one `session.run`, as far as the fault injection reads them. */
export type Feeds = Record<string, { dims: readonly number[]; data: unknown }>;

/** Positions of the rows of a decode step (one new token per row), or undefined for a prefill. */
export function decodePositions(feeds: Feeds): number[] | undefined {
  const ids = feeds['input_ids']!;
  if (ids.dims[1] !== 1) return undefined;
  const positions = feeds['position_ids'];
  if (positions) return Array.from(positions.data as BigInt64Array, Number);
  // Without position_ids: the ones of each attention-mask row are its past plus the new token.
  const [batch, total] = feeds['attention_mask']!.dims as [number, number];
  const mask = feeds['attention_mask']!.data as BigInt64Array;
  return Array.from({ length: batch }, (_, b) => mask.subarray(b * total, (b + 1) * total).reduce((sum, one) => sum + Number(one), 0) - 1);
}
