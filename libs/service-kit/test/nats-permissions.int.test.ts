// Every NATS boundary of the generated configuration, attacked against a real
// nats-server (Debian's 2.9) started here on a free port with that config, so
// each refusal comes from the server, not from our code.
import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { ServiceStartedSchema } from '@csda/proto/csda/events/v1/service_started_pb.js';
import { checkNatsConfig, runStreamProvisioning, startNatsServer, type TestNatsServer } from '@csda/testing';
import { AckPolicy } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, ensureConsumer, ensureStreams, isPermissionViolation, publishProto, StreamProvisioningError, type Nats } from '../src/events.ts';
import { NATS_GRANTS, NATS_PROVISIONER, NATS_SERVICES, natsUserName, type NatsServiceName } from '../src/nats-permissions.ts';
import { natsPasswordEnv, renderNatsServerConfig } from '../src/nats-server-config.ts';
import { auditOutboxMessage } from '../src/audit-outbox.ts';

// OpenBSD's bcrypt test vector: "U*U" hashed at cost 5. Proves a hash passed through
// the server's environment (how the shipped config takes passwords) authenticates.
const BCRYPT_PASSWORD = 'U*U';
const BCRYPT_HASH = '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW';
const event = (id: string) => create(ServiceStartedSchema, { eventId: id, service: 'x', version: '1', occurredAtMs: 1n });

/** An audit record published under `service`'s name the way the outbox relay publishes it (its id as Nats-Msg-Id). */
async function publishAudit(nats: Nats, service: string, fact: { action: string; actor: string }): Promise<string> {
  const message = auditOutboxMessage(nats.subjects, service, fact);
  await nats.js.publish(message.subject, message.payload, { msgID: message.eventId });
  return message.eventId;
}

/** Resolves to the error a refused operation rejects with; fails the test if it succeeds. */
async function refusal(operation: Promise<unknown>): Promise<unknown> {
  const outcome = await operation.then(
    () => ({ ok: true as const }),
    (err: unknown) => ({ ok: false as const, err }),
  );
  if (outcome.ok) throw new Error('the server allowed it');
  return outcome.err;
}

async function expectRefusedByServer(operation: Promise<unknown>): Promise<void> {
  const err = await refusal(operation);
  expect(isPermissionViolation(err), `expected a permissions violation, got ${String(err)}`).toBe(true);
}

describe.each([
  { namespace: '', label: 'no namespace' },
  { namespace: 'permns', label: 'NATS_NAMESPACE=permns' },
])('NATS users and permissions on a real nats-server ($label)', ({ namespace }) => {
  const passwords = new Map<string, string>();
  const userOf = (role: string) => natsUserName(namespace, role);
  const sub = (tail: string) => (namespace ? `${namespace}.${tail}` : tail);
  const stream = (name: string) => (namespace ? `${namespace}_${name}` : name);
  let server: TestNatsServer;
  const open: Nats[] = [];

  async function as(role: NatsServiceName | typeof NATS_PROVISIONER): Promise<Nats> {
    const user = userOf(role);
    const password = role === 'search' ? BCRYPT_PASSWORD : (passwords.get(user) as string);
    const nats = await connectNats(server.url, role, namespace, { user, password });
    open.push(nats);
    return nats;
  }

  beforeAll(async () => {
    for (const role of [...NATS_SERVICES, NATS_PROVISIONER]) passwords.set(userOf(role), randomBytes(18).toString('base64url'));
    // search's password comes from the server's environment as a bcrypt hash; the others are literals.
    const render = (listen: string, storeDir: string) =>
      renderNatsServerConfig({
        namespace,
        listen,
        storeDir,
        password: (user) => (user === userOf('search') ? { env: natsPasswordEnv(user) } : { value: passwords.get(user) as string }),
      });
    server = await startNatsServer(render, { [natsPasswordEnv(userOf('search'))]: BCRYPT_HASH });
  });
  afterAll(async () => {
    await Promise.allSettled(open.map((n) => n.connection.close()));
    await server?.stop();
  });

  it('the generated configuration passes nats-server -t', async () => {
    const text = renderNatsServerConfig({ namespace, listen: '127.0.0.1:4222', storeDir: `${server.dir}/x` });
    const env = Object.fromEntries([...NATS_SERVICES, NATS_PROVISIONER].map((r) => [natsPasswordEnv(userOf(r)), 'Xsecret']));
    expect(await checkNatsConfig(text, server.dir, env)).toBeUndefined();
  });

  it('refuses connections without a user or with a wrong password', async () => {
    await expect(connect({ servers: server.url, timeout: 2_000, reconnect: false })).rejects.toThrow(/Authorization/i);
    await expect(connect({ servers: server.url, user: userOf('vault'), pass: 'wrong', timeout: 2_000, reconnect: false })).rejects.toThrow(/Authorization/i);
  });

  it('a service cannot create streams: ensureStreams only verifies and names the provisioning step', async () => {
    const vault = await as('vault');
    const err = await refusal(ensureStreams(vault));
    expect(err).toBeInstanceOf(StreamProvisioningError);
    expect((err as Error).message).toMatch(new RegExp(`stream ${stream('EVENTS')} is missing .*provision`));
  });

  it('the provision-streams command refuses a service user and names the step', async () => {
    const run = runStreamProvisioning(server.url, namespace, userOf('tool-runner'), passwords.get(userOf('tool-runner')) as string);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/may not create streams: run the stream provisioning with the NATS provisioner user/);
    expect(run.stderr).not.toContain(passwords.get(userOf('tool-runner')));
  });

  it('the provisioner creates the streams (provision-streams command); then every service verifies them, announces itself and audits with a JetStream ack', async () => {
    const run = runStreamProvisioning(server.url, namespace, userOf(NATS_PROVISIONER), passwords.get(userOf(NATS_PROVISIONER)) as string);
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain(`provisioned JetStream streams: ${stream('EVENTS')}`);
    expect(run.status).toBe(0);
    await ensureStreams(await as(NATS_PROVISIONER)); // idempotent
    for (const service of NATS_SERVICES) {
      const nats = await as(service);
      await ensureStreams(nats);
      await publishProto(nats, nats.subjects.audit(service, 'service_started'), ServiceStartedSchema, event(`start-${service}`), { eventId: `start-${service}` });
      const ack = await nats.js.publish(nats.subjects.audit(service, 'probe'), new Uint8Array([1]));
      expect(ack.stream).toBe(stream('AUDIT'));
      expect(await publishAudit(nats, service, { action: 'permission_probe', actor: `service:${service}` })).toMatch(/^[0-9a-f-]{36}$/);
      await nats.js.publish(nats.subjects.subject(`csda.events.${service}.probe.done`), new Uint8Array([1]));
    }
    const info = await (await as('gateway')).jsm.streams.info(stream('AUDIT'));
    expect(info.state.messages).toBe(NATS_SERVICES.length * 3);
  });

  it('tool-runner publishing under the vault\'s name (csda.audit.vault.secret_revealed) is refused by the server and stored nowhere', async () => {
    const tool = await as('tool-runner');
    const forged = sub('csda.audit.vault.secret_revealed');
    await expectRefusedByServer(publishAudit(tool, 'vault', { action: 'secret_revealed', actor: 'user-1' }));
    await expectRefusedByServer(tool.js.publish(forged, new Uint8Array([1])));
    // Fire-and-forget core publish: the server drops it and reports the violation.
    tool.connection.publish(forged, new Uint8Array([1]));
    await tool.connection.flush();
    const gateway = await as('gateway');
    const info = await gateway.jsm.streams.info(stream('AUDIT'), { subjects_filter: sub('csda.audit.vault.>') });
    expect(Object.keys(info.state.subjects ?? {}).filter((s) => s.endsWith('secret_revealed'))).toEqual([]);
    expect(server.output()).toContain(`Publish Violation - User "${userOf('tool-runner')}", Subject "${forged}"`);
  });

  it('a service publishes events, jobs and dead letters only on its own subjects', async () => {
    const vault = await as('vault');
    await expectRefusedByServer(vault.js.publish(sub('csda.events.scheduler.schedule.created'), new Uint8Array([1])));
    await expectRefusedByServer(vault.js.publish(sub('csda.jobs.secrets.rotate'), new Uint8Array([1])));
    await expectRefusedByServer(vault.js.publish(sub('csda.dlq.gateway-audit-log'), new Uint8Array([1])));
    const tool = await as('tool-runner');
    await expectRefusedByServer(tool.js.publish(sub('csda.jobs.secrets.rotate'), new Uint8Array([1])));
    await expectRefusedByServer(tool.js.publish(sub('csda.jobs.documents.parse'), new Uint8Array([1])));
    await tool.js.publish(sub('csda.jobs.tools.execute'), new Uint8Array([1]));
    await (await as('scheduler')).js.publish(sub('csda.jobs.secrets.rotate'), new Uint8Array([1]));
    await (await as('document-ingest')).js.publish(sub('csda.jobs.documents.parse'), new Uint8Array([1]));
    await vault.js.publish(sub('csda.dlq.vault-secret-jobs'), new Uint8Array([1]));
    await expectRefusedByServer((await as('search')).js.publish(sub('csda.jobs.documents.parse'), new Uint8Array([1])));
  });

  it('tool-runner cannot read AUDIT: no subscription, no consumer of its own, no pull from the gateway\'s, no message get, no foreign inbox', async () => {
    const tool = await as('tool-runner');
    // A refused subscription is closed with the server's error (closed resolves to it).
    expect(isPermissionViolation(await tool.connection.subscribe(sub('csda.audit.>')).closed)).toBe(true);
    expect(isPermissionViolation(await tool.connection.subscribe(`_INBOX.${userOf('vault')}.>`).closed)).toBe(true);
    expect(isPermissionViolation(await tool.connection.subscribe('_INBOX.>').closed)).toBe(true);
    await expectRefusedByServer(
      tool.jsm.consumers.add(stream('AUDIT'), { durable_name: 'tool-runner-audit', ack_policy: AckPolicy.Explicit, filter_subject: sub('csda.audit.>') }),
    );
    await expectRefusedByServer(tool.jsm.consumers.add(stream('AUDIT'), { ack_policy: AckPolicy.Explicit }));
    await expectRefusedByServer(tool.jsm.streams.getMessage(stream('AUDIT'), { seq: 1 }));
    await expectRefusedByServer(tool.connection.request(`$JS.API.CONSUMER.MSG.NEXT.${stream('AUDIT')}.gateway-audit-log`, JSON.stringify({ batch: 1, no_wait: true }), { timeout: 2_000 }));
    // Its own work queue is fine.
    await ensureConsumer(tool, { stream: stream('JOBS_TOOLS'), durable: 'tool-runner-tool-jobs', filterSubject: sub('csda.jobs.tools.>'), maxDeliver: 3, ackWaitMs: 5_000, backoffMs: [100] });
    const job = await (await tool.js.consumers.get(stream('JOBS_TOOLS'), 'tool-runner-tool-jobs')).next({ expires: 2_000 });
    expect(job?.subject).toBe(sub('csda.jobs.tools.execute'));
    await job?.ackAck();
  });

  it('document-ingest feeds JOBS_SEARCH; search consumes it and, of EVENTS, only document-ingest\'s document subjects', async () => {
    const ingest = await as('document-ingest');
    const search = await as('search');
    await ingest.js.publish(sub('csda.jobs.search.index'), new Uint8Array([1]), { msgID: 'index:probe:1:0' });
    await ingest.js.publish(sub('csda.events.document-ingest.document.deleted'), new Uint8Array([2]));
    await expectRefusedByServer(search.js.publish(sub('csda.jobs.search.index'), new Uint8Array([1])));
    await expectRefusedByServer((await as('tool-runner')).js.publish(sub('csda.jobs.search.index'), new Uint8Array([1])));
    await ensureConsumer(search, { stream: stream('JOBS_SEARCH'), durable: 'search-index-jobs', filterSubject: sub('csda.jobs.search.>'), maxDeliver: 3, ackWaitMs: 5_000, backoffMs: [] });
    const job = await (await search.js.consumers.get(stream('JOBS_SEARCH'), 'search-index-jobs')).next({ expires: 2_000 });
    expect(job?.subject).toBe(sub('csda.jobs.search.index'));
    await job?.ackAck();
    const events = { stream: stream('EVENTS'), durable: 'search-document-events', maxDeliver: 3, ackWaitMs: 5_000, backoffMs: [] };
    // A wider view of EVENTS (every service's events) under its own durable name is refused by the server.
    await expectRefusedByServer(ensureConsumer(search, { ...events, filterSubject: sub('csda.events.>') }));
    await expectRefusedByServer(search.jsm.consumers.add(stream('EVENTS'), { durable_name: 'search-document-events', ack_policy: AckPolicy.Explicit }));
    await ensureConsumer(search, { ...events, filterSubject: sub('csda.events.document-ingest.document.>') });
    const fact = await (await search.js.consumers.get(stream('EVENTS'), 'search-document-events')).next({ expires: 2_000 });
    expect(fact?.subject).toBe(sub('csda.events.document-ingest.document.deleted'));
    await fact?.ackAck();
  });

  it('document-ingest reads of EVENTS only search\'s document.indexed', async () => {
    const ingest = await as('document-ingest');
    await (await as('search')).js.publish(sub('csda.events.search.document.indexed'), new Uint8Array([3]));
    const events = { stream: stream('EVENTS'), durable: 'document-ingest-search-events', maxDeliver: 3, ackWaitMs: 5_000, backoffMs: [] };
    await expectRefusedByServer(ensureConsumer(ingest, { ...events, filterSubject: sub('csda.events.search.>') }));
    await expectRefusedByServer(ensureConsumer(ingest, { ...events, durable: 'document-ingest-all-events', filterSubject: sub('csda.events.search.document.indexed') }));
    await expectRefusedByServer(ingest.js.publish(sub('csda.events.search.document.indexed'), new Uint8Array([4])));
    await ensureConsumer(ingest, { ...events, filterSubject: sub('csda.events.search.document.indexed') });
    const fact = await (await ingest.js.consumers.get(stream('EVENTS'), 'document-ingest-search-events')).next({ expires: 2_000 });
    expect(fact?.subject).toBe(sub('csda.events.search.document.indexed'));
    await fact?.ackAck();
  });

  it('a queue cannot feed AUDIT: the vault pointing a push consumer of its own queue at csda.audit.gateway.* stores nothing there', async () => {
    const vault = await as('vault');
    const gateway = await as('gateway');
    const before = (await gateway.jsm.streams.info(stream('AUDIT'))).state.messages;
    await (await as('scheduler')).js.publish(sub('csda.jobs.secrets.launder'), new TextEncoder().encode('forged audit payload'));
    const created = await vault.jsm.consumers
      .add(stream('JOBS_SECRETS'), {
        durable_name: 'vault-secret-jobs',
        ack_policy: AckPolicy.Explicit,
        deliver_subject: sub('csda.audit.gateway.login_succeeded'),
        filter_subject: sub('csda.jobs.secrets.>'),
      })
      .then(
        () => true,
        () => false,
      );
    expect(created).toBe(true); // the server accepts the push consumer (its own durable) …
    await new Promise((r) => setTimeout(r, 1_500));
    expect((await gateway.jsm.streams.info(stream('AUDIT'))).state.messages).toBe(before); // … but AUDIT stores none of it
  });

  it('the gateway consumes AUDIT with its durable (create, pull, ack)', async () => {
    const gateway = await as('gateway');
    const [consumer] = NATS_GRANTS.gateway.consumers;
    await ensureConsumer(gateway, { stream: stream('AUDIT'), durable: consumer?.durable as string, filterSubject: sub('csda.audit.>'), maxDeliver: 8, ackWaitMs: 5_000, backoffMs: [1_000] });
    const pull = await gateway.js.consumers.get(stream('AUDIT'), consumer?.durable as string);
    const msg = await pull.next({ expires: 2_000 });
    expect(msg?.subject).toBe(sub('csda.audit.gateway.service_started'));
    expect(await msg?.ackAck()).toBe(true);
    // Even the gateway may not open a second, undeclared consumer on AUDIT.
    await expectRefusedByServer(gateway.jsm.consumers.add(stream('AUDIT'), { durable_name: 'gateway-other', ack_policy: AckPolicy.Explicit }));
  });

  it('nobody deletes or purges a stream: not a service, not the provisioner', async () => {
    for (const role of ['tool-runner', 'gateway', NATS_PROVISIONER] as const) {
      const nats = await as(role);
      await expectRefusedByServer(nats.jsm.streams.delete(stream('AUDIT')));
      await expectRefusedByServer(nats.jsm.streams.purge(stream('AUDIT')));
    }
    await expectRefusedByServer((await as('vault')).jsm.streams.update(stream('AUDIT'), { max_age: 1 }));
    const info = await (await as('gateway')).jsm.streams.info(stream('AUDIT'));
    expect(info.state.messages).toBeGreaterThanOrEqual(NATS_SERVICES.length * 3);
  });
});
