export { FakeEngine } from './fake-engine.js';
export type { FakeEngineOptions } from './fake-engine.js';
export { InMemoryMetricsSink } from './in-memory-metrics.js';
