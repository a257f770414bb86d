/**
 * The worker script of step-failure.test.ts: the engine's own worker-entry, with every decode step
 * that holds a row at or beyond position `MUAI_TEST_POISON_FROM` (environment) failing, so the
 * worker engine's scheduler meets the same fault as the in-process one. Bundled by the test.
 */
import * as ort from 'onnxruntime-node';
import '../src/worker-entry.js';
import { decodePositions } from './fault-injection.js';
import type { Feeds } from './fault-injection.js';

const poisonFrom = Number(process.env['MUAI_TEST_POISON_FROM']);
// Sessions are instances of the InferenceSession class (typed as its factory): patch its prototype.
type Run = (this: unknown, feeds: Feeds, ...rest: unknown[]) => Promise<unknown>;
const prototype = (ort.InferenceSession as unknown as { prototype: { run: Run } }).prototype;
const run = prototype.run;
// worker-entry has only set up its message handler: no session exists yet, none has run.
prototype.run = function (this: unknown, feeds: Feeds, ...rest: unknown[]) {
  if (decodePositions(feeds)?.some((position) => position >= poisonFrom)) return Promise.reject(new Error('injected decode failure in the worker'));
  return run.call(this, feeds, ...rest);
};
