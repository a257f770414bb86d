import { setMaxListeners } from 'node:events';
import type { AddressInfo } from 'node:net';
import { MuaiError, PortInUseError } from '@muai/core';
import { toErrorResponse } from './errors.js';
import { createServer, type ServerOptions } from './server.js';

export interface StartServerOptions extends ServerOptions {
  /** Interface to bind. Default 127.0.0.1 (loopback only); set 0.0.0.0 to expose. */
  host?: string;
  /** Default 8000; 0 picks a free port. */
  port?: number;
  /** Longest wait for in-flight requests on shutdown (the grace period). Default 10 000 ms. */
  drainTimeoutMs?: number;
  /**
   * Stop gracefully on SIGTERM/SIGINT and exit 0 (a stop asked for is not a failure, also when the
   * grace period's end or a second signal cut streams: the log line says so). Default false (the CLI turns it on).
   */
  handleSignals?: boolean;
  /** Called once the server has drained and closed (e.g. to close engines and exit). */
  onClosed?: () => Promise<void> | void;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly app: ReturnType<typeof createServer>;
  /**
   * Drains: new requests get 503 SHUTTING_DOWN (with `Connection: close`), requests in flight
   * finish; after the drain timeout (or `stopNow()`) the rest are stopped, each open stream ending
   * with a SHUTTING_DOWN error event. Resolves `true` when every request finished in time.
   */
  close(): Promise<boolean>;
  /** Ends the grace period at once (a second SIGTERM). */
  stopNow(): void;
  /** Requests in progress (streams included). */
  inFlight(): number;
}

/** Starts the server; a taken port is a PORT_IN_USE error naming the variable to change. */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const stopping = new AbortController();
  // One listener per request in flight: hundreds of streams are expected, not a leak.
  setMaxListeners(0, stopping.signal);
  const app = createServer({ ...options, shutdownSignal: options.shutdownSignal ? AbortSignal.any([options.shutdownSignal, stopping.signal]) : stopping.signal });
  // Draining: the listener stays open so that a client (or a load balancer's probe) gets a clear,
  // coded 503 instead of a refused connection while the requests in flight finish.
  let draining = false;
  const open = new Set<NodeJS.EventEmitter>();
  let onIdle: (() => void) | undefined;
  app.addHook('onRequest', async (request, reply) => {
    if (draining) {
      const { status, body } = toErrorResponse(new MuaiError('SHUTTING_DOWN', 'The server is shutting down; retry on another replica.'));
      await reply.status(status).header('retry-after', '1').header('connection', 'close').send(body);
      return;
    }
    open.add(reply.raw);
    reply.raw.once('close', () => {
      open.delete(reply.raw);
      if (open.size === 0) onIdle?.();
    });
  });
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8000;
  try {
    await app.listen({ host, port });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new PortInUseError(port, 'MUAI_MON_SERVER_PORT (or --port)', { cause: error });
    }
    throw error;
  }
  const address = app.server.address() as AddressInfo;
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  let closing: Promise<boolean> | undefined;
  let stopNow = (): void => {};
  const stopped = new Promise<'now'>((done) => (stopNow = () => done('now')));
  const close = (): Promise<boolean> => {
    closing ??= (async () => {
      draining = true;
      let timer: NodeJS.Timeout | undefined;
      const idle = new Promise<'idle'>((done) => {
        onIdle = () => done('idle');
        if (open.size === 0) done('idle');
      });
      const graceOver = new Promise<'grace'>((done) => (timer = setTimeout(() => done('grace'), drainTimeoutMs)));
      const outcome = await Promise.race([idle, graceOver, stopped]);
      clearTimeout(timer);
      const drained = outcome === 'idle';
      if (!drained) {
        app.log.warn({ inFlight: open.size, drainTimeoutMs, reason: outcome === 'now' ? 'second signal' : 'grace period over' },
          `stopping with ${open.size} request(s) in flight (${outcome === 'now' ? 'second signal' : `grace period of ${drainTimeoutMs} ms over`}): each open stream gets a SHUTTING_DOWN error event`);
        stopping.abort(new MuaiError('SHUTTING_DOWN', 'The server stopped before this request finished.'));
        // Streams write their error event and end on the abort; give them a moment, then cut what is left.
        await Promise.race([idle, new Promise((done) => setTimeout(done, 1000).unref())]);
        app.server.closeAllConnections();
      } else {
        app.log.info('drained: every request in flight finished');
      }
      try {
        await app.close();
      } finally {
        await options.onClosed?.();
      }
      return drained;
    })();
    return closing;
  };
  if (options.handleSignals) {
    const onSignal = (signal: NodeJS.Signals) => {
      if (closing) {
        app.log.warn({ signal }, 'second signal: stopping now');
        stopNow();
        return;
      }
      app.log.info({ signal, inFlight: open.size, drainTimeoutMs }, `draining: ${open.size} request(s) in flight get up to ${drainTimeoutMs} ms; new requests get 503 SHUTTING_DOWN`);
      void close().then(() => process.exit(0));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { url: `http://${shownHost}:${address.port}`, port: address.port, app, close, stopNow: () => stopNow(), inFlight: () => open.size };
}
