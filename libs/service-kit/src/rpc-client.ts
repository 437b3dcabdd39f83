import type { DescService } from '@bufbuild/protobuf';
import { createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { traceClientInterceptor } from './interceptors.ts';

/**
 * A client for another CSDA service: the Connect protocol with binary
 * protobuf over HTTP/2 cleartext (the servers also speak gRPC and gRPC-Web;
 * Connect's unary path is the cheapest of the three). Carries the trace
 * context; callers add their own interceptors (identity…).
 */
export function createServiceClient<S extends DescService>(
  service: S,
  baseUrl: string,
  interceptors: Interceptor[] = [],
): Client<S> {
  const transport = createConnectTransport({
    baseUrl,
    httpVersion: '2',
    useBinaryFormat: true,
    interceptors: [traceClientInterceptor, ...interceptors],
    defaultTimeoutMs: 10_000,
    idleConnectionTimeoutMs: 60_000,
  });
  return createClient(service, transport);
}
