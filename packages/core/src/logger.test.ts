import { describe, expect, it } from 'vitest';
import { NOOP_LOGGER, loggerFromPino, type LogDetails, type PinoLike } from './logger.js';

describe('Logger', () => {
  it('NOOP_LOGGER accepts every call and its children are no-ops too', () => {
    expect(() => NOOP_LOGGER.warn('x', { a: 1 })).not.toThrow();
    expect(NOOP_LOGGER.child?.({ requestId: 'r' })).toBe(NOOP_LOGGER);
  });

  it('loggerFromPino turns (message, details) into pino order and keeps child bindings', () => {
    const lines: Array<[string, LogDetails, string]> = [];
    const fake = (bindings: LogDetails): PinoLike => ({
      warn: (details, message) => lines.push(['warn', { ...bindings, ...details }, message]),
      error: (details, message) => lines.push(['error', { ...bindings, ...details }, message]),
      info: (details, message) => lines.push(['info', { ...bindings, ...details }, message]),
      debug: (details, message) => lines.push(['debug', { ...bindings, ...details }, message]),
      child: (more) => fake({ ...bindings, ...more }),
    });
    const logger = loggerFromPino(fake({}));
    logger.warn('slow', { ms: 5 });
    logger.child?.({ requestId: 'r1' }).info?.('done');
    expect(lines).toEqual([
      ['warn', { ms: 5 }, 'slow'],
      ['info', { requestId: 'r1' }, 'done'],
    ]);
  });
});
