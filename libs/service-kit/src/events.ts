import { fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
} from '@nats-io/jetstream';
import { connect, errors, headers as natsHeaders, nanos, type NatsConnection } from '@nats-io/transport-node';
import { context } from '@opentelemetry/api';
import type { CheckResult } from './health.ts';
import { SpanKind, injectTraceContext, withSpan } from './telemetry.ts';

/** Header naming the protobuf type of a payload, e.g. `csda.events.v1.ServiceStarted`. */
export const EVENT_TYPE_HEADER = 'Csda-Event-Type';
/** Header carrying the event id: the consumer-side idempotency key (also sent as Nats-Msg-Id). */
export const EVENT_ID_HEADER = 'Csda-Event-Id';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Stream and subject names under a namespace. The empty namespace is the
 * platform's own (`EVENTS`, `csda.events.>`); tests use their own so runs
 * never share a stream with the local stack.
 */
export class Subjects {
  readonly namespace: string;

  constructor(namespace: string) {
    this.namespace = namespace;
  }

  stream(name: string): string {
    return this.namespace ? `${this.namespace}_${name}` : name;
  }

  subject(tail: string): string {
    return this.namespace ? `${this.namespace}.${tail}` : tail;
  }

  audit(service: string, action: string): string {
    return this.subject(`csda.audit.${service}.${action}`);
  }

  deadLetter(queue: string): string {
    return this.subject(`csda.dlq.${queue}`);
  }

  /** Every stream of the platform (DESIGN.md "Talking"). */
  streams(): StreamConfig[] {
    // Work queues de-duplicate for a day: a job id (e.g. rotate:<secret>:<due instant>) published again
    // by another scheduler replica or an overlapping CronJob run is dropped, not queued twice.
    const s = (name: string, subject: string, retention: RetentionPolicy, maxAgeMs: number, duplicateWindowMs = 2 * 60 * 1000): StreamConfig =>
      ({
        name: this.stream(name),
        subjects: [this.subject(subject)],
        retention,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        max_age: nanos(maxAgeMs),
        duplicate_window: nanos(duplicateWindowMs),
        num_replicas: 1,
      }) as StreamConfig;
    return [
      s('EVENTS', 'csda.events.>', RetentionPolicy.Limits, 7 * DAY_MS),
      s('AUDIT', 'csda.audit.>', RetentionPolicy.Limits, 30 * DAY_MS),
      s('JOBS_DOCUMENTS', 'csda.jobs.documents.>', RetentionPolicy.Workqueue, 7 * DAY_MS, DAY_MS),
      // Chunk batches from document-ingest to search (csda.search.v1.IndexChunksBatch).
      s('JOBS_SEARCH', 'csda.jobs.search.>', RetentionPolicy.Workqueue, 7 * DAY_MS, DAY_MS),
      s('JOBS_SECRETS', 'csda.jobs.secrets.>', RetentionPolicy.Workqueue, 7 * DAY_MS, DAY_MS),
      s('JOBS_TOOLS', 'csda.jobs.tools.>', RetentionPolicy.Workqueue, 7 * DAY_MS, DAY_MS),
      s('DEAD_LETTER', 'csda.dlq.>', RetentionPolicy.Limits, 30 * DAY_MS),
    ];
  }
}

export interface Nats {
  readonly connection: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly subjects: Subjects;
}

/**
 * The inbox prefix a user's connection uses for replies (JetStream acks, API
 * answers, pull deliveries). Each user may subscribe only below its own
 * (nats-permissions.ts), so no service can read another's replies.
 */
export function natsInboxPrefix(user: string): string {
  return `_INBOX.${user}`;
}

/** A service's NATS user (see nats-permissions.ts); omitted for an open server. */
export interface NatsAuth {
  readonly user: string;
  readonly password: string;
}

/** NATS_USER / NATS_PASSWORD of a config (loadConfig checks they come together). */
export function natsAuth(config: { readonly NATS_USER?: string | undefined; readonly NATS_PASSWORD?: string | undefined }): NatsAuth | undefined {
  return config.NATS_USER && config.NATS_PASSWORD ? { user: config.NATS_USER, password: config.NATS_PASSWORD } : undefined;
}

/**
 * Connects once (the caller retries) and opens JetStream. With `auth`, replies
 * arrive below the user's own inbox prefix, the only one it may subscribe to.
 */
export async function connectNats(url: string, name: string, namespace: string, auth?: NatsAuth): Promise<Nats> {
  const credentials = auth ? { user: auth.user, pass: auth.password, inboxPrefix: natsInboxPrefix(auth.user) } : {};
  // noAsyncTraces: no Error (with stack) captured per request on the hot path.
  const connection = await connect({ servers: url, name, reconnect: true, maxReconnectAttempts: -1, timeout: 3_000, noAsyncTraces: true, ...credentials });
  const jsm = await jetstreamManager(connection, { timeout: 5_000 });
  return { connection, jsm, js: jetstream(connection, { timeout: 5_000 }), subjects: new Subjects(namespace) };
}

/** Readiness: connected (not closed, not reconnecting). */
export function natsCheck(nats: Nats): () => Promise<CheckResult> {
  return async () => {
    if (nats.connection.isClosed()) return { ok: false, detail: 'connection closed' };
    await nats.connection.flush();
    return { ok: true };
  };
}

/** A stream is missing or drifted and this NATS user may not fix it. */
export class StreamProvisioningError extends Error {
  constructor(stream: string, problem: 'missing' | 'drifted') {
    super(
      `JetStream stream ${stream} is ${problem} and this NATS user may not ${problem === 'missing' ? 'create' : 'update'} streams: ` +
        'run the stream provisioning with the NATS provisioner user first (`npm start` does; in Kubernetes the nats-provision hook Job)',
    );
    this.name = 'StreamProvisioningError';
  }
}

/**
 * Creates every stream that is missing and updates drifted ones. Safe to run
 * from many processes at once: a create that loses the race is an update.
 * For a user without stream rights (every service user; only the provisioner
 * has them) this only verifies: a missing or drifted stream is a
 * {@link StreamProvisioningError}, refused by the server, not guessed here.
 */
export async function ensureStreams(nats: Nats): Promise<void> {
  for (const config of nats.subjects.streams()) {
    const existing = await nats.jsm.streams.info(config.name).catch(() => undefined);
    if (!existing) {
      await nats.jsm.streams.add(config).catch(async (err: unknown) => {
        if (isPermissionViolation(err)) throw new StreamProvisioningError(config.name, 'missing');
        if (!(await nats.jsm.streams.info(config.name).catch(() => undefined))) throw err;
      });
      continue;
    }
    const drifted = existing.config.max_age !== config.max_age || existing.config.subjects.join() !== config.subjects.join();
    if (drifted) {
      await nats.jsm.streams.update(config.name, { ...existing.config, max_age: config.max_age, subjects: config.subjects }).catch((err: unknown) => {
        throw isPermissionViolation(err) ? new StreamProvisioningError(config.name, 'drifted') : err;
      });
    }
  }
}

/** True for the server's "Permissions Violation" (possibly wrapped as a cause). */
export function isPermissionViolation(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof errors.PermissionViolationError) return true;
  }
  return false;
}

export interface DurableConsumerSpec {
  readonly stream: string;
  readonly durable: string;
  readonly filterSubject: string;
  /** Deliveries before a message goes to the dead-letter subject. */
  readonly maxDeliver: number;
  readonly ackWaitMs: number;
  /** Redelivery delays; JetStream requires fewer entries than maxDeliver. */
  readonly backoffMs: readonly number[];
  /** Where a new durable starts: `all` (default) the whole stream, `new` only what is published after it exists. */
  readonly deliverPolicy?: 'all' | 'new';
}

/** Creates or updates a durable pull consumer (idempotent; an existing durable keeps where it started). */
export async function ensureConsumer(nats: Nats, spec: DurableConsumerSpec): Promise<void> {
  const config = {
    durable_name: spec.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: spec.deliverPolicy === 'new' ? DeliverPolicy.New : DeliverPolicy.All,
    filter_subject: spec.filterSubject,
    max_deliver: spec.maxDeliver,
    ack_wait: nanos(spec.ackWaitMs),
    backoff: spec.backoffMs.map(nanos),
    max_ack_pending: 1_000,
  };
  const existing = await nats.jsm.consumers.info(spec.stream, spec.durable).catch(() => undefined);
  // Where a durable starts is fixed at creation; everything else follows the spec.
  const { deliver_policy: _start, ...updatable } = config;
  if (existing) await nats.jsm.consumers.update(spec.stream, spec.durable, updatable);
  else await nats.jsm.consumers.add(spec.stream, config);
}

export interface PublishOptions {
  /** Unique id: sent as Nats-Msg-Id (stream de-duplication) and Csda-Event-Id. */
  readonly eventId: string;
}

/** Publishes a protobuf message with its type, id and the active trace context in headers. */
export async function publishProto<Desc extends DescMessage>(
  nats: Nats,
  subject: string,
  schema: Desc,
  message: MessageShape<Desc>,
  options: PublishOptions,
): Promise<void> {
  await withSpan(`publish ${subject}`, SpanKind.PRODUCER, context.active(), () =>
    publishPayload(nats, subject, toBinary(schema, message), { eventId: options.eventId, eventType: schema.typeName }),
  );
}

/**
 * Publishes an encoded payload with the platform's headers: its type, its id
 * (also the Nats-Msg-Id that de-duplicates it) and a trace context — the one
 * recorded with it (`traceHeaders`, as the outbox keeps it), else the active one.
 */
export async function publishPayload(
  nats: Nats,
  subject: string,
  payload: Uint8Array,
  meta: { readonly eventId: string; readonly eventType: string; readonly traceHeaders?: Readonly<Record<string, string>> },
): Promise<void> {
  const h = natsHeaders();
  h.set(EVENT_TYPE_HEADER, meta.eventType);
  h.set(EVENT_ID_HEADER, meta.eventId);
  if (meta.traceHeaders) for (const [key, value] of Object.entries(meta.traceHeaders)) h.set(key, value);
  else injectTraceContext(h);
  await nats.js.publish(subject, payload, { msgID: meta.eventId, headers: h });
}

/** Decodes a message's payload as `schema`. */
export function decodeProto<Desc extends DescMessage>(schema: Desc, msg: JsMsg): MessageShape<Desc> {
  return fromBinary(schema, msg.data);
}

export type { JsMsg };
