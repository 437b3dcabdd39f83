import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP relay to a local server (Redis) that a test can cut and restore: an
 * outage as clients see it (connections reset, new ones refused), while the
 * server itself keeps running for everyone else.
 */
export async function startTcpProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  let delayMs = 0;
  const listen = async () => {
    server = createServer((client) => {
      const upstream = connect(target.port, target.host);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream);
      // Answers pass after `delayMs` (a slow server); in order.
      let queue = Promise.resolve();
      upstream.on('data', (chunk: Buffer) => {
        const wait = delayMs;
        queue = queue.then(() => (wait ? new Promise((r) => setTimeout(r, wait)) : undefined)).then(() => void (client.writable && client.write(chunk)));
      });
      upstream.on('end', () => void queue.then(() => client.end()));
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  };
  await listen();
  return {
    get url() {
      return `redis://127.0.0.1:${port}`;
    },
    /** Resets every connection and stops accepting new ones. */
    async cut() {
      const closed = new Promise<void>((resolve) => server!.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
    /** Holds every answer this long before passing it on (0: none). */
    slow(ms: number) {
      delayMs = ms;
    },
    /** Accepts connections again on the same port. */
    restore: listen,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));
    },
  };
}
