/**
 * The script a worker thread of `OnnxWorkerEngine` runs: a normal `OnnxEngine` that answers the
 * messages of worker-protocol.ts. Built by tsup as dist/worker-entry.js (ESM) and .cjs (CommonJS).
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { GenerationRequest, StreamChunk, TensorMap } from '@muai/core';
import { OnnxEngine } from './onnx-engine.js';
import type { OnnxEngineOptions } from './options.js';
import { serializeError } from './worker-protocol.js';
import type { FromWorker, ToWorker } from './worker-protocol.js';

const port = parentPort;
if (port === null) throw new Error('worker-entry is the script of an OnnxWorkerEngine worker thread; it cannot run on its own.');

const engine = new OnnxEngine(((workerData as { options?: OnnxEngineOptions } | null)?.options ?? {}) as OnnxEngineOptions);
/** Abort controllers of running calls, per request index (0 for single requests). */
const controllers = new Map<number, AbortController[]>();

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  if (transfer.length === 0) {
    port!.postMessage(message);
    return;
  }
  try {
    port!.postMessage(message, transfer);
  } catch {
    // Buffers owned by native code cannot move; copy them instead.
    port!.postMessage(message);
  }
}

function withSignal(request: GenerationRequest, controller: AbortController): GenerationRequest {
  return { ...request, signal: controller.signal };
}

/** Output buffers belong to the worker alone, so they move instead of being copied. */
function tensorBuffers(tensors: TensorMap): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const tensor of Object.values(tensors)) {
    const data = tensor.data as { buffer?: unknown };
    if (ArrayBuffer.isView(tensor.data) && data.buffer instanceof ArrayBuffer) buffers.add(data.buffer);
  }
  return [...buffers];
}

async function streamTo(id: number, request: GenerationRequest, controller: AbortController): Promise<void> {
  try {
    for await (const chunk of engine.stream(withSignal(request, controller)) as AsyncIterable<StreamChunk>) post({ id, chunk });
    post({ id, end: true });
  } catch (error) {
    post({ id, ok: false, error: serializeError(error) });
  }
}

async function call(id: number, method: string, args: unknown[]): Promise<unknown> {
  const controller = (index = 0): AbortController => controllers.get(id)![index]!;
  switch (method) {
    case 'load':
      return engine.load(args[0] as Parameters<OnnxEngine['load']>[0]);
    case 'unload':
      return engine.unload(args[0] as string);
    case 'models':
      return engine.models();
    case 'health':
      return engine.health();
    case 'generate':
      return engine.generate(withSignal(args[0] as GenerationRequest, controller()));
    case 'generateBatch': {
      const results = await engine.generateBatch((args[0] as GenerationRequest[]).map((request, index) => withSignal(request, controller(index))));
      return results.map((result) => (result instanceof Error ? { __error: serializeError(result) } : result));
    }
    case 'infer':
      return engine.infer(args[0] as string, args[1] as TensorMap, { signal: controller().signal });
    case 'describeModel':
      return engine.describeModel(args[0] as string);
    case 'encodeRequest':
      return engine.encodeRequest(args[0] as GenerationRequest);
    case 'cacheStats':
      return engine.cacheStats(args[0] as string | undefined);
    case 'batchStats':
      return engine.batchStats(args[0] as string | undefined);
    case 'setLimits':
      return engine.setLimits(args[0] as { maxBatchSize?: number; maxBatchTokens?: number }, args[1] as string | undefined);
    case 'close':
      // Every call was aborted first; once the models are unloaded the port closes and the thread ends by itself.
      await engine.close();
      setImmediate(() => port!.close());
      return undefined;
    case '__crash':
      // Test-only: an uncaught exception ends the worker thread, as a native fault would.
      setImmediate(() => {
        throw new Error('deliberate crash (__crash)');
      });
      return new Promise(() => undefined);
    default:
      throw new Error(`Unknown worker method "${method}".`);
  }
}

port.on('message', (message: ToWorker) => {
  if ('abort' in message) {
    const list = controllers.get(message.id);
    if (list === undefined) return;
    for (const [index, controller] of list.entries()) if (message.index === undefined || message.index === index) controller.abort(new Error('aborted by the caller'));
    return;
  }
  const { id, method, args } = message;
  const count = method === 'generateBatch' ? (args[0] as unknown[]).length : 1;
  controllers.set(id, Array.from({ length: Math.max(count, 1) }, () => new AbortController()));
  if (method === 'stream') {
    void streamTo(id, args[0] as GenerationRequest, controllers.get(id)![0]!).finally(() => controllers.delete(id));
    return;
  }
  const withModels = method === 'load' || method === 'unload' || method === 'close';
  call(id, method, args).then(
    (value) => {
      const models = withModels ? { models: [...engine.models()] } : {};
      post({ id, ok: true, value, ...models }, method === 'infer' ? tensorBuffers(value as TensorMap) : []);
    },
    (error: unknown) => post({ id, ok: false, error: serializeError(error), ...(withModels ? { models: [...engine.models()] } : {}) }),
  ).finally(() => controllers.delete(id));
});
