import type { AddressInfo } from 'node:net';
import { PortInUseError } from '@muai/core';
import { createServer, type ServerOptions } from './server.js';

export interface StartServerOptions extends ServerOptions {
  /** Interface to bind. Default 127.0.0.1 (loopback only); set 0.0.0.0 to expose. */
  host?: string;
  /** Default 8000; 0 picks a free port. */
  port?: number;
  /** Longest wait for in-flight requests on shutdown. Default 10 000 ms. */
  drainTimeoutMs?: number;
  /** Stop gracefully on SIGTERM/SIGINT. Default false (the CLI turns it on). */
  handleSignals?: boolean;
  /** Called once the server has drained and closed (e.g. to close engines and exit). */
  onClosed?: () => Promise<void> | void;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly app: ReturnType<typeof createServer>;
  /** Stops accepting, waits for in-flight requests up to the drain timeout, then closes. */
  close(): Promise<void>;
}

/** Starts the server; a taken port is a PORT_IN_USE error naming the variable to change. */
export async function startServer(options: StartServerOptions): Promise<RunningServer> {
  const app = createServer(options);
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
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const timer = setTimeout(() => app.server.closeAllConnections(), drainTimeoutMs);
      timer.unref();
      try {
        await app.close();
      } finally {
        clearTimeout(timer);
        await options.onClosed?.();
      }
    })();
    return closing;
  };
  if (options.handleSignals) {
    const onSignal = (signal: NodeJS.Signals) => {
      app.log.info({ signal }, 'draining');
      void close().then(() => process.exit(0));
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { url: `http://${shownHost}:${address.port}`, port: address.port, app, close };
}
