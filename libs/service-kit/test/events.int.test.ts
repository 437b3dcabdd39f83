import { create } from '@bufbuild/protobuf';
import { ServiceStartedSchema } from '@csda/proto/csda/events/v1/service_started_pb.js';
import { deleteNamespace, natsUrl, testNamespace, waitFor } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PermanentMessageError, startConsumer } from '../src/consumer.ts';
import { EVENT_ID_HEADER, connectNats, decodeProto, ensureConsumer, ensureStreams, publishProto, type Nats } from '../src/events.ts';
import { createLogger } from '../src/logger.ts';

const logger = createLogger({ service: 'test', level: 'silent' });
const event = (id: string) => create(ServiceStartedSchema, { eventId: id, service: 'vault', version: '1', occurredAtMs: 1n });

describe('JetStream (real NATS)', () => {
  const namespace = testNamespace();
  let nats: Nats;
  beforeAll(async () => {
    nats = await connectNats(natsUrl(), 'kit-test', namespace);
  });
  afterAll(async () => {
    await nats?.connection.drain();
    await deleteNamespace(namespace);
  });

  it('creates the platform streams once; running again changes nothing', async () => {
    await ensureStreams(nats);
    await ensureStreams(nats);
    const names: string[] = [];
    for await (const name of nats.jsm.streams.names()) if (name.startsWith(`${namespace}_`)) names.push(name);
    expect(names.sort()).toEqual(['AUDIT', 'DEAD_LETTER', 'EVENTS', 'JOBS_DOCUMENTS', 'JOBS_SEARCH', 'JOBS_SECRETS', 'JOBS_TOOLS'].map((n) => `${namespace}_${n}`));
    const jobs = await nats.jsm.streams.info(`${namespace}_JOBS_TOOLS`);
    expect(jobs.config.retention).toBe('workqueue');
    expect(jobs.config.subjects).toEqual([`${namespace}.csda.jobs.tools.>`]);
    const search = await nats.jsm.streams.info(`${namespace}_JOBS_SEARCH`);
    expect(search.config).toMatchObject({ retention: 'workqueue', subjects: [`${namespace}.csda.jobs.search.>`], duplicate_window: 24 * 60 * 60 * 1e9 });
  });

  it('de-duplicates publishes by Nats-Msg-Id and carries type, id and trace headers', async () => {
    const subject = nats.subjects.audit('vault', 'dedupe_probe');
    await publishProto(nats, subject, ServiceStartedSchema, event('dup-1'), { eventId: 'dup-1' });
    await publishProto(nats, subject, ServiceStartedSchema, event('dup-1'), { eventId: 'dup-1' });
    const info = await nats.jsm.streams.info(nats.subjects.stream('AUDIT'), { subjects_filter: subject });
    expect(info.state.subjects?.[subject]).toBe(1);
    const msg = await nats.jsm.streams.getMessage(nats.subjects.stream('AUDIT'), { last_by_subj: subject });
    expect(msg?.header.get(EVENT_ID_HEADER)).toBe('dup-1');
    expect(msg?.header.get('Csda-Event-Type')).toBe('csda.events.v1.ServiceStarted');
  });

  it('redelivers failed messages with backoff and acks once the handler succeeds', async () => {
    const spec = { stream: nats.subjects.stream('AUDIT'), durable: 'retry-probe', filterSubject: nats.subjects.audit('vault', 'retry_probe'), maxDeliver: 5, ackWaitMs: 5_000, backoffMs: [50, 50, 50] };
    await ensureConsumer(nats, spec);
    const deliveries: number[] = [];
    const consumer = await startConsumer(nats, {
      spec,
      logger,
      concurrency: 2,
      handler: async (msg) => {
        deliveries.push(msg.info.deliveryCount);
        expect(decodeProto(ServiceStartedSchema, msg).eventId).toBe('retry-1');
        if (msg.info.deliveryCount < 3) throw new Error('transient');
      },
    });
    await publishProto(nats, spec.filterSubject, ServiceStartedSchema, event('retry-1'), { eventId: 'retry-1' });
    await waitFor(async () => (await nats.jsm.consumers.info(spec.stream, spec.durable)).num_ack_pending === 0 && deliveries.length >= 3);
    await consumer.stop();
    expect(deliveries).toEqual([1, 2, 3]);
  });

  it('dead-letters a message that exhausts its deliveries, and a permanent failure at once', async () => {
    const spec = { stream: nats.subjects.stream('AUDIT'), durable: 'dlq-probe', filterSubject: nats.subjects.audit('vault', 'dlq_probe.>'), maxDeliver: 2, ackWaitMs: 5_000, backoffMs: [50] };
    await ensureConsumer(nats, spec);
    const seen: string[] = [];
    const consumer = await startConsumer(nats, {
      spec,
      logger,
      concurrency: 1,
      handler: async (msg) => {
        seen.push(`${msg.subject.split('.').at(-1)}#${msg.info.deliveryCount}`);
        if (msg.subject.endsWith('.permanent')) throw new PermanentMessageError('cannot decode');
        throw new Error('always failing');
      },
    });
    await publishProto(nats, nats.subjects.audit('vault', 'dlq_probe.transient'), ServiceStartedSchema, event('dlq-1'), { eventId: 'dlq-1' });
    await publishProto(nats, nats.subjects.audit('vault', 'dlq_probe.permanent'), ServiceStartedSchema, event('dlq-2'), { eventId: 'dlq-2' });
    const dlq = nats.subjects.deadLetter('dlq-probe');
    await waitFor(async () => ((await nats.jsm.streams.info(nats.subjects.stream('DEAD_LETTER'), { subjects_filter: dlq })).state.subjects?.[dlq] ?? 0) === 2);
    await consumer.stop();
    expect(seen.filter((s) => s.startsWith('transient'))).toEqual(['transient#1', 'transient#2']);
    expect(seen.filter((s) => s.startsWith('permanent'))).toEqual(['permanent#1']);
    const last = await nats.jsm.streams.getMessage(nats.subjects.stream('DEAD_LETTER'), { last_by_subj: dlq });
    expect(last?.header.get('Csda-Dead-Letter-Reason')).toBeTruthy();
  });
});
