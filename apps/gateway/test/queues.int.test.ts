// GET /api/v1/system/queues and the csda_queue_* gauges against real JetStream:
// a private nats-server with the generated least-privilege configuration, so
// the gateway reads the figures as its own NATS user and the server would log
// any permission it lacked.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { NATS_PROVISIONER, NATS_SERVICES, connectNats, createMetrics, ensureConsumer, natsUserName, renderNatsServerConfig, type Nats } from '@csda/service-kit';
import { deleteNamespace, findSamples, natsUrl, parsePrometheus, runStreamProvisioning, startNatsServer, testNamespace, type TestNatsServer } from '@csda/testing';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQueueInspector, registerQueueMetrics, WORK_QUEUES } from '../src/system/queues.ts';
import { client } from './support/identity-harness.ts';
import { buildOfflineApp, offlineAdminToken, offlineUserToken } from './support/offline-app.ts';

describe('work queues: /api/v1/system/queues and csda_queue_* gauges (real JetStream, per-service NATS users)', () => {
  const namespace = testNamespace();
  const passwords = new Map([...NATS_SERVICES, NATS_PROVISIONER].map((role) => [natsUserName(namespace, role), randomBytes(18).toString('base64url')]));
  let server: TestNatsServer;
  const conns: Nats[] = [];
  let app: FastifyInstance;
  let api: ReturnType<typeof client>;

  const as = async (service: string) => {
    const user = natsUserName(namespace, service);
    const nats = await connectNats(server.url, `queues-test-${service}`, namespace, { user, password: passwords.get(user) as string });
    conns.push(nats);
    return nats;
  };
  const spec = (nats: Nats, queue: string, durable: string, subject: string) => ({
    stream: nats.subjects.stream(queue),
    durable,
    filterSubject: nats.subjects.subject(subject),
    maxDeliver: 5,
    ackWaitMs: 1_000,
    backoffMs: [],
  });
  const queues = async () => {
    const res = await api('GET', '/api/v1/system/queues', { token: await offlineAdminToken() });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return Object.fromEntries((res.body!.items as { queue: string }[]).map((q) => [q.queue, q])) as Record<string, Record<string, unknown>>;
  };

  beforeAll(async () => {
    server = await startNatsServer((listen, storeDir) => renderNatsServerConfig({ namespace, listen, storeDir, password: (user) => ({ value: passwords.get(user) as string }) }));
    const provisioner = natsUserName(namespace, NATS_PROVISIONER);
    const provisioned = runStreamProvisioning(server.url, namespace, provisioner, passwords.get(provisioner) as string);
    if (provisioned.status !== 0) throw new Error(`stream provisioning failed: ${provisioned.stderr}`);

    // The workers create their consumers (document-ingest has not: its consumer is missing).
    const vault = await as('vault');
    await ensureConsumer(vault, spec(vault, 'JOBS_SECRETS', 'vault-secret-jobs', 'csda.jobs.secrets.>'));
    const tools = await as('tool-runner');
    await ensureConsumer(tools, spec(tools, 'JOBS_TOOLS', 'tool-runner-tool-jobs', 'csda.jobs.tools.>'));

    const scheduler = await as('scheduler');
    for (let i = 0; i < 5; i++) await scheduler.js.publish(scheduler.subjects.subject('csda.jobs.secrets.rotate'), new TextEncoder().encode(`job-${i}`), { msgID: `rotate:s${i}:1` });
    // A duplicate job id is dropped by the stream (the work queues de-duplicate).
    await scheduler.js.publish(scheduler.subjects.subject('csda.jobs.secrets.rotate'), new TextEncoder().encode('job-0'), { msgID: 'rotate:s0:1' });
    const ingest = await as('document-ingest');
    for (let i = 0; i < 2; i++) await ingest.js.publish(ingest.subjects.subject('csda.jobs.documents.process'), new TextEncoder().encode(`doc-${i}`), { msgID: `doc-${i}` });
    // Dead letters, each on its own consumer's subject.
    await vault.js.publish(vault.subjects.deadLetter('vault-secret-jobs'), new TextEncoder().encode('dead-1'), { msgID: 'dlq-1' });
    await vault.js.publish(vault.subjects.deadLetter('vault-secret-jobs'), new TextEncoder().encode('dead-2'), { msgID: 'dlq-2' });
    await tools.js.publish(tools.subjects.deadLetter('tool-runner-tool-jobs'), new TextEncoder().encode('dead-3'), { msgID: 'dlq-3' });

    const gateway = await as('gateway');
    const metrics = createMetrics('gateway');
    const inspector = createQueueInspector(gateway);
    registerQueueMetrics(metrics.registry, inspector);
    ({ app } = await buildOfflineApp({ queues: inspector, registry: metrics.registry }));
    api = client(app);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    for (const c of conns) await c.connection.close();
    await server?.stop();
  });

  it('lists the four work queues with their durable consumers from NATS_GRANTS', () => {
    expect(WORK_QUEUES).toEqual([
      { queue: 'JOBS_DOCUMENTS', durable: 'document-ingest-document-jobs' },
      { queue: 'JOBS_SEARCH', durable: 'search-index-jobs' },
      { queue: 'JOBS_SECRETS', durable: 'vault-secret-jobs' },
      { queue: 'JOBS_TOOLS', durable: 'tool-runner-tool-jobs' },
    ]);
  });

  it('counts pending, in-flight, redelivered and dead-lettered work; a missing consumer is shown, not an error', async () => {
    const before = await queues();
    expect(before.JOBS_SECRETS).toEqual({ queue: 'JOBS_SECRETS', stream: `${namespace}_JOBS_SECRETS`, consumer: 'vault-secret-jobs', state: 'ok', messages: 5, pending: 5, in_flight: 0, redelivered: 0, dead_lettered: 2 });
    expect(before.JOBS_TOOLS).toMatchObject({ state: 'ok', messages: 0, pending: 0, in_flight: 0, redelivered: 0, dead_lettered: 1 });
    expect(before.JOBS_DOCUMENTS).toEqual({
      queue: 'JOBS_DOCUMENTS',
      stream: `${namespace}_JOBS_DOCUMENTS`,
      consumer: 'document-ingest-document-jobs',
      state: 'consumer_missing',
      messages: 2,
      pending: null,
      in_flight: null,
      redelivered: null,
      dead_lettered: 0,
    });

    // The vault takes two jobs and does not acknowledge them (yet).
    const vault = conns[0]!;
    const consumer = await vault.js.consumers.get(vault.subjects.stream('JOBS_SECRETS'), 'vault-secret-jobs');
    const taken = [];
    for await (const m of await consumer.fetch({ max_messages: 2, expires: 2_000 })) taken.push(m);
    expect(taken).toHaveLength(2);
    await sleep(600); // past the snapshot's reuse window
    expect(await queues()).toMatchObject({ JOBS_SECRETS: { messages: 5, pending: 3, in_flight: 2, redelivered: 0 } });

    // Their ack wait passes: they are delivered again.
    await sleep(1_200);
    const again = [];
    for await (const m of await consumer.fetch({ max_messages: 2, expires: 2_000 })) again.push(m);
    expect(again.every((m) => m.info.deliveryCount === 2)).toBe(true);
    await sleep(600);
    const redelivered = (await queues()).JOBS_SECRETS!;
    expect(redelivered).toMatchObject({ pending: 3, in_flight: 2 });
    expect(redelivered.redelivered).toBeGreaterThanOrEqual(1);

    // Acknowledged work leaves the queue.
    for (const m of again) m.ack();
    await vault.connection.flush();
    await sleep(600);
    expect(await queues()).toMatchObject({ JOBS_SECRETS: { messages: 3, pending: 3, in_flight: 0, redelivered: 0, dead_lettered: 2 } });
  });

  it('exposes the same figures as Prometheus gauges, sampled at scrape time', async () => {
    await sleep(600);
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    const samples = parsePrometheus(res.body);
    const value = (name: string, queue: string) => findSamples(samples, name, { queue })[0]?.value;
    expect(value('csda_queue_messages', 'JOBS_SECRETS')).toBe(3);
    expect(value('csda_queue_pending', 'JOBS_SECRETS')).toBe(3);
    expect(value('csda_queue_in_flight', 'JOBS_SECRETS')).toBe(0);
    expect(value('csda_queue_redelivered', 'JOBS_SECRETS')).toBe(0);
    expect(value('csda_queue_dead_lettered', 'JOBS_SECRETS')).toBe(2);
    expect(value('csda_queue_dead_lettered', 'JOBS_TOOLS')).toBe(1);
    expect(value('csda_queue_consumer_present', 'JOBS_SECRETS')).toBe(1);
    expect(value('csda_queue_consumer_present', 'JOBS_DOCUMENTS')).toBe(0);
    expect(value('csda_queue_messages', 'JOBS_DOCUMENTS')).toBe(2);
    // A figure the server did not give (no consumer) has no sample, rather than a made-up zero.
    expect(value('csda_queue_pending', 'JOBS_DOCUMENTS')).toBeUndefined();
    expect(findSamples(samples, 'csda_queue_pending', { queue: 'JOBS_SECRETS' })[0]?.labels).toMatchObject({ consumer: 'vault-secret-jobs', service: 'gateway' });
  });

  it('is for system:read only', async () => {
    expect((await api('GET', '/api/v1/system/queues')).status).toBe(401);
    expect((await api('GET', '/api/v1/system/queues', { token: await offlineUserToken({ id: 'u-2', username: 'bob' }) })).status).toBe(403);
  });

  it('needed nothing beyond the gateway\'s NATS permissions: the server logged no violation', () => {
    expect(server.output()).not.toMatch(/Violation/);
  });
});

describe('work queues when JetStream cannot tell', () => {
  it('reports unprovisioned streams as stream_missing and a dead connection as unavailable, without throwing', async () => {
    const namespace = testNamespace();
    const nats = await connectNats(natsUrl(), 'queues-test-empty', namespace);
    try {
      const missing = await createQueueInspector(nats).snapshot();
      expect(missing.map((q) => [q.queue, q.state, q.messages, q.deadLettered])).toEqual([
        ['JOBS_DOCUMENTS', 'stream_missing', null, null],
        ['JOBS_SEARCH', 'stream_missing', null, null],
        ['JOBS_SECRETS', 'stream_missing', null, null],
        ['JOBS_TOOLS', 'stream_missing', null, null],
      ]);
    } finally {
      await nats.connection.close();
      await deleteNamespace(namespace);
    }
    const closed = await createQueueInspector(nats).snapshot();
    expect(closed.map((q) => q.state)).toEqual(WORK_QUEUES.map(() => 'unavailable'));
  });
});
