import { constants, PerformanceObserver } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { youngGc } from './young-gc.js';

describe('youngGc', () => {
  it('runs a real young-generation collection on demand, without leaving `gc` in the global scope', async () => {
    const hadGc = typeof (globalThis as { gc?: unknown }).gc === 'function';
    const collect = youngGc();
    expect(typeof collect).toBe('function');
    expect(typeof (globalThis as { gc?: unknown }).gc === 'function').toBe(hadGc);

    const kinds: number[] = [];
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) kinds.push((entry as unknown as { detail: { kind: number } }).detail.kind);
    });
    observer.observe({ entryTypes: ['gc'] });
    for (let i = 0; i < 3; i++) collect!();
    // GC entries are delivered asynchronously.
    await new Promise((resolve) => setTimeout(resolve, 50));
    observer.disconnect();
    expect(kinds.filter((kind) => kind === constants.NODE_PERFORMANCE_GC_MINOR).length).toBeGreaterThanOrEqual(3);
  });

  it('hands out the same function every time (the flag is toggled once per process)', () => {
    expect(youngGc()).toBe(youngGc());
  });
});
