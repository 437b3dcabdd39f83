import { toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { context, propagation } from '@opentelemetry/api';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from 'pino';
import type { MikroORM } from './database.ts';
import { publishPayload, type Nats } from './events.ts';
import type { CheckResult } from './health.ts';

/** One message waiting in a service's outbox, written in the same transaction as the change it reports. */
export interface OutboxMessage {
  /** Unique id: the stream's Nats-Msg-Id and the consumers' idempotency key. */
  readonly eventId: string;
  readonly subject: string;
  /** Protobuf type name of the payload. */
  readonly eventType: string;
  readonly payload: Uint8Array;
  /** What the message is about (e.g. `secret:<id>`), for operators; relay order is global by id. */
  readonly aggregate: string | null;
  /** W3C trace context of the request that wrote it. */
  readonly traceHeaders: Readonly<Record<string, string>>;
}

/** An outbox message carrying any protobuf payload. */
export function outboxMessage<Desc extends DescMessage>(subject: string, schema: Desc, message: MessageShape<Desc>, options: { eventId: string; aggregate?: string }): OutboxMessage {
  const traceHeaders: Record<string, string> = {};
  propagation.inject(context.active(), traceHeaders);
  return { eventId: options.eventId, subject, eventType: schema.typeName, payload: toBinary(schema, message), aggregate: options.aggregate ?? null, traceHeaders };
}

/**
 * Writes messages into `<schema>.outbox` on `em` — inside the caller's
 * transaction when `em` is transactional, so the change and its record
 * commit together or not at all. One statement for the batch.
 */
export async function enqueueOutbox(em: EntityManager, schema: string, messages: readonly OutboxMessage[]): Promise<void> {
  if (messages.length === 0) return;
  const rows = messages.map(() => '(?, ?, ?, ?, ?, ?::jsonb)').join(', ');
  const params = messages.flatMap((m) => [m.eventId, m.subject, m.eventType, Buffer.from(m.payload), m.aggregate, JSON.stringify(m.traceHeaders)]);
  await em.getConnection().execute(
    `insert into "${schema}"."outbox" (event_id, subject, event_type, payload, aggregate, trace_headers) values ${rows}`,
    params,
    'run',
    em.getTransactionContext(),
  );
}

export interface OutboxRelayOptions {
  readonly orm: MikroORM;
  readonly nats: Nats;
  readonly schema: string;
  readonly logger: Logger;
  /** Most rows published per round; default 256. */
  readonly batchSize?: number;
  /** Idle poll interval (rows written by other replicas, retries); default 250 ms. */
  readonly pollMs?: number;
  /** Pause after a round that published, to gather the next batch; default 20 ms. */
  readonly coalesceMs?: number;
  /** Longest back-off after failures; default 30 s. */
  readonly maxBackoffMs?: number;
  /** Published rows are deleted after this long; default 24 h. */
  readonly retentionMs?: number;
}

export interface OutboxRelay {
  /** Relay now (called after a commit that wrote to the outbox). */
  kick(): void;
  /** Resolves once everything written before the call is published (tests, one-shot commands). */
  flush(timeoutMs?: number): Promise<void>;
  /** Readiness detail: unsent backlog and the last error; never fails readiness (the outbox is the buffer). */
  check(): Promise<CheckResult>;
  stop(): Promise<void>;
}

interface OutboxRow {
  id: string;
  event_id: string;
  subject: string;
  event_type: string;
  payload: Buffer;
  trace_headers: Record<string, string>;
}

/**
 * Publishes a schema's outbox to JetStream, at least once, in id order, with
 * the row's event id as `Nats-Msg-Id` (the stream drops duplicates inside its
 * window; consumers are idempotent beyond it). One relay per schema is active
 * at a time (a transaction-scoped advisory lock), so order holds across
 * replicas. NATS down: rows wait, the relay backs off and resumes; nothing is
 * lost and no request fails because of it.
 */
export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  const { orm, nats, schema, logger } = options;
  const batchSize = options.batchSize ?? 256;
  const pollMs = options.pollMs ?? 250;
  const coalesceMs = options.coalesceMs ?? 20;
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  const retentionMs = options.retentionMs ?? 24 * 60 * 60 * 1000;
  const lockKey = `csda.outbox.${schema}`;
  let stopped = false;
  let wake: (() => void) | undefined;
  let kicked = false;
  let failures = 0;
  let lastError: string | undefined;
  let lastPurge = 0;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
      if (kicked) done();
    });

  /** One round: returns the number of rows published (0 when idle or another replica holds the lock). */
  async function round(): Promise<number> {
    const em = orm.em.fork() as EntityManager;
    return em.transactional(async (tx) => {
      const conn = tx.getConnection();
      const ctx = tx.getTransactionContext();
      const [lock] = await conn.execute<{ ok: boolean }[]>('select pg_try_advisory_xact_lock(hashtext(?)) as ok', [lockKey], 'all', ctx);
      if (!lock?.ok) return 0;
      const rows = await conn.execute<OutboxRow[]>(
        `select id, event_id, subject, event_type, payload, trace_headers from "${schema}"."outbox" where sent_at is null order by id limit ?`,
        [batchSize],
        'all',
        ctx,
      );
      if (rows.length === 0) return 0;
      // Published in id order on one connection, so the stream keeps that order.
      const results = await Promise.allSettled(rows.map((row) => publishRow(row)));
      const firstFailure = results.findIndex((r) => r.status === 'rejected');
      const sent = firstFailure === -1 ? rows : rows.slice(0, firstFailure);
      if (sent.length > 0) {
        await conn.execute(`update "${schema}"."outbox" set sent_at = now(), attempts = attempts + 1 where id = any(?::bigint[])`, [`{${sent.map((r) => r.id).join(',')}}`], 'run', ctx);
      }
      if (firstFailure !== -1) {
        // Later rows that did reach the stream are re-sent next round and dropped there as duplicates (same Nats-Msg-Id).
        const reason = (results[firstFailure] as PromiseRejectedResult).reason;
        const message = reason instanceof Error ? reason.message : String(reason);
        await conn.execute(`update "${schema}"."outbox" set attempts = attempts + 1, last_error = ? where id = ?`, [message.slice(0, 500), rows[firstFailure]!.id], 'run', ctx);
        throw new Error(message);
      }
      return sent.length;
    });
  }

  const publishRow = (row: OutboxRow) =>
    publishPayload(nats, row.subject, row.payload, { eventId: row.event_id, eventType: row.event_type, traceHeaders: row.trace_headers ?? {} });

  async function purge(): Promise<void> {
    if (Date.now() - lastPurge < 60_000) return;
    lastPurge = Date.now();
    const em = orm.em.fork() as EntityManager;
    await em.getConnection().execute(`delete from "${schema}"."outbox" where sent_at < now() - (? || ' milliseconds')::interval`, [String(retentionMs)], 'run');
  }

  const loop = (async () => {
    while (!stopped) {
      kicked = false;
      try {
        const published = await round();
        if (failures > 0) logger.info({ schema, after_failures: failures }, 'outbox relay recovered');
        failures = 0;
        lastError = undefined;
        if (published === batchSize) continue;
        await purge();
        // A round that found rows is followed by a short pause even if kicked
        // again, so a busy service publishes in batches rather than one
        // transaction per request (the pause is off the request path).
        if (published > 0) await new Promise((resolve) => setTimeout(resolve, coalesceMs));
        await sleep(pollMs);
      } catch (err) {
        failures += 1;
        lastError = err instanceof Error ? err.message : String(err);
        // One line per outage, then every tenth attempt.
        if (failures === 1 || failures % 10 === 0) logger.warn({ schema, failures, err: lastError }, 'outbox relay cannot publish; rows are kept and retried');
        await sleep(Math.min(maxBackoffMs, 100 * 2 ** Math.min(failures, 10)));
      }
    }
  })();

  return {
    kick() {
      kicked = true;
      wake?.();
    },
    async flush(timeoutMs = 10_000) {
      const em = orm.em.fork() as EntityManager;
      const conn = em.getConnection();
      const [row] = await conn.execute<{ max: string | null }[]>(`select max(id)::text as max from "${schema}"."outbox"`);
      const upTo = row?.max ?? '0';
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const [left] = await conn.execute<{ n: number }[]>(`select count(*)::int as n from "${schema}"."outbox" where sent_at is null and id <= ?`, [upTo]);
        if (!left?.n) return;
        if (Date.now() > deadline) throw new Error(`outbox of ${schema}: ${left.n} message(s) not published within ${timeoutMs} ms`);
        this.kick();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async check() {
      return { ok: true, detail: lastError ? `relay failing (${failures}x): ${lastError}` : undefined };
    },
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
