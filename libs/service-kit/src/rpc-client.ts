import type { DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { Counter, Histogram, type Registry } from 'prom-client';
import { traceClientInterceptor } from './interceptors.ts';

/**
 * A client for another CSDA service: the Connect protocol with binary
 * protobuf over HTTP/2 cleartext (the servers also speak gRPC and gRPC-Web;
 * Connect's unary path is the cheapest of the three), uncompressed. Carries the trace
 * context; callers add their own interceptors (metrics, identity…).
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
    // No response compression: answers between pods are small and the network fast, while gzip costs CPU
    // and a thread-pool round trip on both sides of every call (Connect asks for gzip/br by default).
    acceptCompression: [],
    defaultTimeoutMs: 10_000,
    idleConnectionTimeoutMs: 60_000,
  });
  return createClient(service, transport);
}

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Client side RPC metrics on `registry` (create once per registry; `createMetrics`
 * does): `csda_rpc_client_duration_seconds` and `csda_rpc_client_handled_total`
 * by `rpc_service` (the callee's proto service), `rpc_method` and `code`
 * (`ok` or the Connect code's name, e.g. `Unavailable` when nothing listens).
 */
export function rpcClientMetricsInterceptor(registry: Registry): Interceptor {
  const labelNames = ['rpc_service', 'rpc_method', 'code'] as const;
  const duration = new Histogram({ name: 'csda_rpc_client_duration_seconds', help: 'Duration of RPCs made to other services.', labelNames, buckets: BUCKETS, registers: [registry] });
  const total = new Counter({ name: 'csda_rpc_client_handled_total', help: 'RPCs made to other services, by callee service, method and code.', labelNames, registers: [registry] });
  return (next) => async (req) => {
    const labels = { rpc_service: req.service.typeName, rpc_method: req.method.name };
    const end = duration.startTimer(labels);
    let code = 'ok';
    try {
      return await next(req);
    } catch (err) {
      code = Code[ConnectError.from(err).code] ?? 'Unknown';
      throw err;
    } finally {
      end({ code });
      total.inc({ ...labels, code });
    }
  };
}
