export { FakeEngine } from './fake-engine.js';
export type { FakeEngineOptions } from './fake-engine.js';
export { InMemoryMetricsSink } from './in-memory-metrics.js';
export { describeEngineConformance } from './conformance.js';
export type { ConformanceSubject, ConformanceTestApi } from './conformance.js';
export { freePort } from './free-port.js';
