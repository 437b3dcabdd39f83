import type { Server } from 'node:http';
import { create } from '@bufbuild/protobuf';
import { ServiceStartedSchema } from '@csda/proto/csda/events/v1/service_started_pb.js';
import { Health } from '@csda/proto/grpc/health/v1/health_pb.js';
import { deleteNamespace, findSamples, freePort, natsUrl, parsePrometheus, testNamespace, waitFor, type PromSample } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentMessageError, startConsumer } from '../src/consumer.ts';
import { connectNats, ensureConsumer, ensureStreams, publishProto, type Nats } from '../src/events.ts';
import { createHealthRpc, createHealthState } from '../src/health.ts';
import { createLogger } from '../src/logger.ts';
import { createMetrics, type Metrics } from '../src/metrics.ts';
import { startOpsServer } from '../src/ops-server.ts';
import { createServiceClient } from '../src/rpc-client.ts';
import { startRpcServer, type RpcServer } from '../src/rpc-server.ts';

const logger = createLogger({ service: 'test', level: 'silent' });
const event = (id: string) => create(ServiceStartedSchema, { eventId: id, service: 'vault', version: '1', occurredAtMs: 1n });

/** Service metrics scraped over HTTP from the kit's ops server, as Prometheus would. */
describe('service metrics (real NATS, real RPC, scraped over HTTP)', () => {
  const namespace = testNamespace();
  let nats: Nats;
  let metrics: Metrics;
  let ops: Server;
  let opsPort: number;
  let rpc: RpcServer;
  const scrape = async (): Promise<PromSample[]> => {
    const res = await fetch(`http://127.0.0.1:${opsPort}/metrics`);
    expect(res.status).toBe(200);
    return parsePrometheus(await res.text());
  };
  const value = (samples: PromSample[], name: string, labels: Record<string, string>) => {
    const found = findSamples(samples, name, labels);
    expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
    return found[0]!.value;
  };
  /** For polling: the sample's value, or undefined while it is absent. */
  const peek = (samples: PromSample[], name: string, labels: Record<string, string>) => findSamples(samples, name, labels)[0]?.value;

  beforeAll(async () => {
    nats = await connectNats(natsUrl(), 'kit-metrics', namespace);
    await ensureStreams(nats);
    metrics = createMetrics('probe');
    const health = createHealthState();
    health.markStarted();
    opsPort = await freePort();
    ops = await startOpsServer({ host: '127.0.0.1', port: opsPort, health, registry: metrics.registry });
    rpc = await startRpcServer({
      host: '127.0.0.1',
      port: 0,
      shutdownTimeoutMs: 1_000,
      interceptors: [metrics.rpcInterceptor],
      routes: (router) => router.service(Health, createHealthRpc(health, ['csda.probe.v1.Probe'])),
    });
  });
  afterAll(async () => {
    await rpc?.close();
    await new Promise((r) => ops?.close(r));
    await nats?.connection.drain();
    await deleteNamespace(namespace);
  });

  it('counts and times client RPCs by callee service, method and code, including a backend that is down', async () => {
    const client = createServiceClient(Health, `http://127.0.0.1:${rpc.port}`, [metrics.rpcClientInterceptor]);
    await client.check({ service: '' });
    await client.check({ service: '' });
    await expect(client.check({ service: 'nope' })).rejects.toThrow(/unknown service/);
    const down = createServiceClient(Health, `http://127.0.0.1:${await freePort()}`, [metrics.rpcClientInterceptor]);
    await expect(down.check({ service: '' })).rejects.toThrow();

    const samples = await scrape();
    const call = { rpc_service: 'grpc.health.v1.Health', rpc_method: 'Check', service: 'probe' };
    expect(value(samples, 'csda_rpc_client_handled_total', { ...call, code: 'ok' })).toBe(2);
    expect(value(samples, 'csda_rpc_client_handled_total', { ...call, code: 'NotFound' })).toBe(1);
    expect(value(samples, 'csda_rpc_client_handled_total', { ...call, code: 'Unavailable' })).toBe(1);
    expect(value(samples, 'csda_rpc_client_duration_seconds_count', { ...call, code: 'ok' })).toBe(2);
    expect(value(samples, 'csda_rpc_client_duration_seconds_bucket', { ...call, code: 'ok', le: '+Inf' })).toBe(2);
    // The server side of the same calls, and the registry's default label naming the emitting service.
    expect(value(samples, 'csda_rpc_server_handled_total', { method: 'grpc.health.v1.Health/Check', code: 'NotFound', service: 'probe' })).toBe(1);
  });

  it('reports pending and ack-pending from consumer info at scrape time', async () => {
    const spec = { stream: nats.subjects.stream('AUDIT'), durable: 'metrics-pending', filterSubject: nats.subjects.audit('vault', 'metrics_pending'), maxDeliver: 3, ackWaitMs: 30_000, backoffMs: [30_000] };
    await ensureConsumer(nats, spec);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let handled = 0;
    const consumer = await startConsumer(nats, {
      spec,
      logger,
      concurrency: 1,
      metrics: metrics.consumers,
      handler: async () => {
        await gate;
        handled++;
      },
    });
    try {
      for (let i = 0; i < 10; i++) await publishProto(nats, spec.filterSubject, ServiceStartedSchema, event(`p-${i}`), { eventId: `p-${i}` });
      const labels = { stream: spec.stream, consumer: spec.durable };
      // The handler holds one message (concurrency 1), the pull buffer a few more: the rest wait in the stream.
      await waitFor(async () => (peek(await scrape(), 'csda_consumer_ack_pending_messages', labels) ?? 0) >= 1);
      await new Promise((r) => setTimeout(r, 200));
      const blocked = await scrape();
      const pending = value(blocked, 'csda_consumer_pending_messages', labels);
      const ackPending = value(blocked, 'csda_consumer_ack_pending_messages', labels);
      expect(pending + ackPending).toBe(10);
      expect(pending).toBeGreaterThanOrEqual(5);
      expect(ackPending).toBeGreaterThanOrEqual(1);
      expect(value(blocked, 'csda_consumer_redelivered_total', labels)).toBe(0);
      release();
      await waitFor(() => handled === 10);
      await waitFor(async () => peek(await scrape(), 'csda_consumer_ack_pending_messages', labels) === 0);
      expect(value(await scrape(), 'csda_consumer_pending_messages', labels)).toBe(0);
    } finally {
      release();
      await consumer.stop();
    }
    // A stopped consumer is no longer sampled.
    expect(findSamples(await scrape(), 'csda_consumer_pending_messages', { consumer: spec.durable })).toEqual([]);
  });

  it('counts redeliveries and dead-letters, by reason', async () => {
    const spec = { stream: nats.subjects.stream('AUDIT'), durable: 'metrics-dlq', filterSubject: nats.subjects.audit('vault', 'metrics_dlq.>'), maxDeliver: 3, ackWaitMs: 5_000, backoffMs: [20, 20] };
    await ensureConsumer(nats, spec);
    const seen: string[] = [];
    const consumer = await startConsumer(nats, {
      spec,
      logger,
      concurrency: 2,
      metrics: metrics.consumers,
      handler: async (msg) => {
        const kind = msg.subject.split('.').at(-1)!;
        seen.push(`${kind}#${msg.info.deliveryCount}`);
        if (kind === 'permanent') throw new PermanentMessageError('cannot decode');
        if (kind === 'exhausted') throw new Error('always failing');
        if (kind === 'flaky' && msg.info.deliveryCount < 2) throw new Error('transient');
      },
    });
    try {
      for (const kind of ['permanent', 'exhausted', 'flaky', 'fine']) {
        await publishProto(nats, nats.subjects.audit('vault', `metrics_dlq.${kind}`), ServiceStartedSchema, event(`d-${kind}`), { eventId: `d-${kind}` });
      }
      const labels = { stream: spec.stream, consumer: spec.durable };
      await waitFor(async () => {
        const s = await scrape();
        return peek(s, 'csda_consumer_dead_lettered_total', { ...labels, reason: 'exhausted' }) === 1 && seen.includes('flaky#2');
      });
      const samples = await scrape();
      expect(value(samples, 'csda_consumer_dead_lettered_total', { ...labels, reason: 'permanent' })).toBe(1);
      expect(value(samples, 'csda_consumer_dead_lettered_total', { ...labels, reason: 'exhausted' })).toBe(1);
      // exhausted#2, exhausted#3 and flaky#2 arrived with a delivery count above one.
      expect(value(samples, 'csda_consumer_redelivered_total', labels)).toBe(3);
    } finally {
      await consumer.stop();
    }
  });
});
