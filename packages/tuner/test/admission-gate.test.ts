import { describe, expect, it } from 'vitest';
import { createAdmissionGate } from '../src/index.js';

describe('AdmissionGate', () => {
  it('admits up to the limit and refuses beyond it at once; a lower limit never evicts', () => {
    const gate = createAdmissionGate({ limit: 2 });
    expect([gate.tryAcquire(), gate.tryAcquire(), gate.tryAcquire()]).toEqual([true, true, false]);
    expect(gate.inFlight).toBe(2);
    gate.release();
    expect(gate.tryAcquire()).toBe(true);
    gate.setLimit(1);
    expect(gate.inFlight).toBe(2);
    expect(gate.tryAcquire()).toBe(false);
    gate.release();
    expect(gate.tryAcquire()).toBe(false);
    gate.release();
    expect(gate.tryAcquire()).toBe(true);
    gate.setLimit(0);
    expect(gate.limit).toBe(1);
  });

  it('reports refusals and time-weighted requests in flight per window', () => {
    let now = 0;
    const gate = createAdmissionGate({ limit: 2, now: () => now });
    gate.tryAcquire();
    now = 500;
    gate.tryAcquire();
    gate.tryAcquire();
    now = 1000;
    gate.release();
    now = 2000;
    // 1 in flight for 500 ms, 2 for 500 ms, 1 for 1000 ms: 2500 request·ms over 2000 ms.
    expect(gate.window()).toEqual({ refused: 1, admitted: 2, inFlight: { mean: 1.25, max: 2 } });
    now = 3000;
    // The next window starts from what is in flight now.
    expect(gate.window()).toEqual({ refused: 0, admitted: 0, inFlight: { mean: 1, max: 1 } });
    gate.release();
    gate.release();
    expect(gate.inFlight).toBe(0);
  });
});
