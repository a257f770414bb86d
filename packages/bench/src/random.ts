/** A seeded pseudo-random source (mulberry32): reproducible datasets and arrival schedules. */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer uniform in [low, high] (both included). */
  integer(low: number, high: number): number;
  /** Exponential with mean 1. */
  exponential(): number;
  /** Gamma(shape, scale=1) by Marsaglia and Tsang. */
  gamma(shape: number): number;
}

export function createRandom(seed: number): Random {
  let state = seed >>> 0 || 0x9e3779b9;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  // Standard normal by Box-Muller (one value per call is enough here).
  const normal = (): number => {
    const u = 1 - next();
    const v = next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const gamma = (shape: number): number => {
    if (shape < 1) {
      // Boost: Gamma(a) = Gamma(a + 1) * U^(1/a).
      return gamma(shape + 1) * Math.pow(1 - next(), 1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = 1 - next();
      if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
    }
  };
  return {
    next,
    integer: (low, high) => low + Math.floor(next() * (high - low + 1)),
    exponential: () => -Math.log(1 - next()),
    gamma,
  };
}
