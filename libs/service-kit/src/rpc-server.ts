import { Code, ConnectError, type ConnectRouter, type Interceptor } from '@connectrpc/connect';
import { fastifyConnectPlugin } from '@connectrpc/connect-fastify';
import { fastify } from 'fastify';

export interface RpcServerOptions {
  readonly host: string;
  readonly port: number;
  readonly routes: (router: ConnectRouter) => void;
  readonly interceptors: Interceptor[];
  /** In-flight RPCs get this long to finish on close before they are aborted. */
  readonly shutdownTimeoutMs: number;
}

/**
 * Connect, gRPC and gRPC-Web over HTTP/2 cleartext (h2c). Returns the
 * listening Fastify instance; `close()` stops accepting, lets in-flight RPCs
 * finish within the shutdown timeout, then aborts them.
 */
export interface RpcServer {
  /** The bound port (useful when RPC_PORT is 0 in tests). */
  readonly port: number;
  close(): Promise<void>;
}

export async function startRpcServer(options: RpcServerOptions): Promise<RpcServer> {
  const app = fastify({ http2: true, logger: false, forceCloseConnections: true });
  // Our own shutdown signal instead of the plugin's shutdownTimeoutMs, whose
  // referenced timer keeps the process alive for the full timeout after close.
  const shutdown = new AbortController();
  await app.register(fastifyConnectPlugin, {
    routes: options.routes,
    interceptors: options.interceptors,
    shutdownSignal: shutdown.signal,
    grpc: true,
    grpcWeb: true,
    connect: true,
  });
  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    port,
    async close() {
      const abortInFlight = setTimeout(
        () => shutdown.abort(new ConnectError('server is shutting down', Code.Unavailable)),
        options.shutdownTimeoutMs,
      );
      abortInFlight.unref();
      try {
        await app.close();
      } finally {
        clearTimeout(abortInFlight);
      }
    },
  };
}
