import type { DescService } from '@bufbuild/protobuf';
import { createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { traceClientInterceptor } from './interceptors.ts';

/**
 * A client for another CSDA service, over gRPC on HTTP/2 cleartext. Carries
 * the trace context; callers add their own interceptors (identity…).
 */
export function createServiceClient<S extends DescService>(
  service: S,
  baseUrl: string,
  interceptors: Interceptor[] = [],
): Client<S> {
  const transport = createGrpcTransport({
    baseUrl,
    interceptors: [traceClientInterceptor, ...interceptors],
    defaultTimeoutMs: 10_000,
    idleConnectionTimeoutMs: 60_000,
  });
  return createClient(service, transport);
}
