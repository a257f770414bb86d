import { createServer, type AddressInfo } from 'node:net';

/** A loopback TCP port that was free a moment ago (listen on 0, read the port, close): for tests that start real services. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
