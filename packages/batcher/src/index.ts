export { createBatcher, BATCHER_DEFAULTS } from './batcher.js';
export { BatcherClosedError } from './errors.js';
export type {
  BatchContext,
  BatchDispatchedEvent,
  BatchFunction,
  BatchSettledEvent,
  Batcher,
  BatcherEvent,
  BatcherLimits,
  BatcherOptions,
  BatcherStats,
  CloseOptions,
  DispatchReason,
  RequestCancelledEvent,
  RequestRejectedEvent,
  SubmitOptions,
} from './types.js';
