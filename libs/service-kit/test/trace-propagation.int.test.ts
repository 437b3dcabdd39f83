import { create } from '@bufbuild/protobuf';
import { createClient, createRouterTransport } from '@connectrpc/connect';
import { ServiceStartedSchema } from '@csda/proto/csda/events/v1/service_started_pb.js';
import { Health } from '@csda/proto/grpc/health/v1/health_pb.js';
import { deleteNamespace, natsUrl, testNamespace } from '@csda/testing';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConsumer } from '../src/consumer.ts';
import { connectNats, ensureConsumer, ensureStreams, publishProto, type Nats } from '../src/events.ts';
import { serverInterceptor, traceClientInterceptor } from '../src/interceptors.ts';
import { createLogger } from '../src/logger.ts';
import { startTelemetry, type Telemetry } from '../src/telemetry.ts';

const logger = createLogger({ service: 'test', level: 'silent' });

describe('trace context across Connect and NATS', () => {
  const exporter = new InMemorySpanExporter();
  const namespace = testNamespace();
  let telemetry: Telemetry;
  let nats: Nats;
  beforeAll(async () => {
    telemetry = await startTelemetry({ service: 'test', version: '0', spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    nats = await connectNats(natsUrl(), 'trace-test', namespace);
    await ensureStreams(nats);
  });
  afterAll(async () => {
    await nats?.connection.drain();
    await deleteNamespace(namespace);
    await telemetry?.shutdown();
  });

  it('continues the caller trace in the Connect handler', async () => {
    let seen = '';
    const transport = createRouterTransport(
      (router) =>
        router.service(Health, {
          check() {
            seen = trace.getActiveSpan()?.spanContext().traceId ?? '';
            return { status: 1 };
          },
        }),
      { transport: { interceptors: [traceClientInterceptor] }, router: { interceptors: [serverInterceptor(logger, false)] } },
    );
    const client = createClient(Health, transport);
    const traceId = await trace.getTracer('test').startActiveSpan('caller', async (span) => {
      await client.check({});
      span.end();
      return span.spanContext().traceId;
    });
    expect(seen).toBe(traceId);
    expect(exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId).map((s) => s.name)).toEqual(
      expect.arrayContaining(['caller', 'grpc.health.v1.Health/Check']),
    );
  });

  it('carries the trace from a publisher to the consumer through JetStream headers', async () => {
    const spec = { stream: nats.subjects.stream('AUDIT'), durable: 'trace-probe', filterSubject: nats.subjects.audit('test', 'trace_probe'), maxDeliver: 3, ackWaitMs: 5_000, backoffMs: [100] };
    await ensureConsumer(nats, spec);
    let consumed = '';
    const consumer = await startConsumer(nats, {
      spec,
      logger,
      concurrency: 1,
      handler: async () => {
        consumed = trace.getActiveSpan()?.spanContext().traceId ?? '';
      },
    });
    const traceId = await trace.getTracer('test').startActiveSpan('request', async (span) => {
      await publishProto(nats, spec.filterSubject, ServiceStartedSchema, create(ServiceStartedSchema, { eventId: 'trace-1' }), { eventId: 'trace-1' });
      span.end();
      return span.spanContext().traceId;
    });
    const deadline = Date.now() + 5_000;
    while (!consumed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await consumer.stop();
    expect(consumed).toBe(traceId);
  });
});
