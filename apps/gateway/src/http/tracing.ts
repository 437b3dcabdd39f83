import { context, propagation, trace, SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api';
import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    otelSpan?: Span;
  }
}

/**
 * A server span per request, continuing an incoming W3C trace context. The
 * rest of the request runs inside the span's context, so Connect calls to
 * backends and published events carry it on.
 */
export function installTracing(app: FastifyInstance): void {
  const tracer = trace.getTracer('csda-gateway');
  app.addHook('onRequest', (request, reply, done) => {
    const parent = propagation.extract(context.active(), request.headers);
    const span = tracer.startSpan(`${request.method} ${request.routeOptions.url ?? 'unmatched'}`, { kind: SpanKind.SERVER }, parent);
    request.otelSpan = span;
    const traceId = span.spanContext().traceId;
    if (trace.isSpanContextValid(span.spanContext())) void reply.header('x-trace-id', traceId);
    context.with(trace.setSpan(parent, span), done);
  });
  app.addHook('onResponse', (request, reply, done) => {
    const span = request.otelSpan;
    if (span) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    done();
  });
}
