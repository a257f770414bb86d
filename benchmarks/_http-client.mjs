// The HTTP client of the server benchmark. It runs in a worker thread (its own event loop, as remote
// clients would be), so that client-side JSON and socket work does not run on the server's event
// loop. Imported by the benchmark for `httpClient()`; loaded again as the worker's own script.
import { Agent, request } from 'node:http';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { percentile } from './_common.mjs';

/**
 * A client in a worker thread that POSTs `body` to `${url}/v1/completions`: `once()` (the answer),
 * `timedOnce()` (latency and the server's Server-Timing), `round(concurrency)` (closed loop for
 * `roundMs`: rps, p50, p99, and each request's time outside the engine).
 */
export function httpClient(url, { body, clients, roundMs }) {
  const worker = new Worker(new URL(import.meta.url), { workerData: { url, body, clients } });
  const ask = (message) =>
    new Promise((resolve, reject) => {
      worker.once('message', (reply) => (reply.error ? reject(new Error(reply.error)) : resolve(reply)));
      worker.postMessage(message);
    });
  return {
    once: async () => (await ask({ type: 'once' })).answer,
    /** One request: its latency (ms) as the client in the worker saw it, and the server's Server-Timing (engine, handler ms). */
    timedOnce: async () => {
      const { ms, engineMs, handlerMs } = await ask({ type: 'once' });
      return { ms, engineMs, handlerMs };
    },
    round: async (concurrency) => {
      const { latencies, outside, elapsed } = await ask({ type: 'round', roundMs, clients: concurrency });
      latencies.sort((a, b) => a - b);
      return { rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), requests: latencies.length, outside };
    },
    close: () => worker.terminate(),
  };
}

/** The server's Server-Timing header: engine;dur=<engine call ms>, handler;dur=<route ms>. */
function timingOf(header) {
  const engine = /engine;dur=([0-9.]+)/.exec(header ?? '');
  const handler = /handler;dur=([0-9.]+)/.exec(header ?? '');
  return { engine: engine ? Number(engine[1]) : NaN, handler: handler ? Number(handler[1]) : NaN };
}

function runWorker() {
  const { url, body, clients: maxClients } = workerData;
  const { hostname, port } = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: maxClients });
  let lastTiming = { engine: NaN, handler: NaN };
  const call = () =>
    new Promise((resolve, reject) => {
      const req = request({ host: hostname, port, path: '/v1/completions', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (response) => {
        const chunks = [];
        const timing = timingOf(response.headers['server-timing']);
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          lastTiming = timing;
          if (response.statusCode !== 200) reject(new Error(`HTTP ${response.statusCode}: ${text}`));
          else resolve(JSON.parse(text));
        });
        response.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  parentPort.on('message', async (message) => {
    try {
      if (message.type === 'once') {
        const t0 = performance.now();
        const answer = await call();
        const ms = performance.now() - t0;
        parentPort.postMessage({ answer, ms, engineMs: lastTiming.engine, handlerMs: lastTiming.handler });
        return;
      }
      const latencies = [];
      const outside = [];
      const start = performance.now();
      const deadline = start + message.roundMs;
      const client = async () => {
        while (performance.now() < deadline) {
          const t0 = performance.now();
          await call();
          const ms = performance.now() - t0;
          latencies.push(ms);
          outside.push(ms - lastTiming.engine);
        }
      };
      await Promise.all(Array.from({ length: message.clients }, client));
      parentPort.postMessage({ latencies, outside, elapsed: (performance.now() - start) / 1000 });
    } catch (error) {
      parentPort.postMessage({ error: String((error && error.stack) || error) });
    }
  });
}

if (!isMainThread && workerData?.body !== undefined) runWorker();
