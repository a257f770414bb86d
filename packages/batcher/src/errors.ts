import { MuaiError, type MuaiErrorOptions } from '@muai/core';

/**
 * The batcher no longer accepts requests (after `drain()` or `close()`). Code ENGINE_UNAVAILABLE
 * (HTTP 503): the service behind it is shutting down, and a retry elsewhere may succeed.
 */
export class BatcherClosedError extends MuaiError {
  constructor(options: MuaiErrorOptions = {}) {
    super(
      'ENGINE_UNAVAILABLE',
      'The batcher is closed (drain() or close() was called) and accepts no new requests. Submit to a new batcher, or retry against another replica.',
      { ...options, details: { reason: 'batcher_closed', ...options.details } },
    );
    this.name = 'BatcherClosedError';
  }
}
