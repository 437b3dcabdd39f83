import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { NATS_GRANTS, type Nats } from '@csda/service-kit';
import { Gauge, type Registry } from 'prom-client';

/** The work queues (DESIGN.md "Talking") and the durable consumer that works each, as NATS_GRANTS assigns them. */
export const WORK_QUEUES: readonly { readonly queue: string; readonly durable: string }[] = Object.freeze(
  Object.values(NATS_GRANTS)
    .flatMap((g) => g.consumers)
    .filter((c) => c.stream.startsWith('JOBS_'))
    .map((c) => Object.freeze({ queue: c.stream, durable: c.durable }))
    .sort((a, b) => a.queue.localeCompare(b.queue)),
);

/**
 * - `ok`: stream and consumer found;
 * - `consumer_missing`: the stream exists, its worker has not created its consumer (yet);
 * - `stream_missing`: the stream is not provisioned;
 * - `unavailable`: NATS did not answer (counts unknown).
 */
export type QueueState = 'ok' | 'consumer_missing' | 'stream_missing' | 'unavailable';

export interface QueueStatus {
  /** Platform name, e.g. `JOBS_SECRETS`. */
  readonly queue: string;
  /** The stream's name under this deployment's namespace. */
  readonly stream: string;
  readonly consumer: string;
  readonly state: QueueState;
  /** Messages in the stream (a work queue holds only unacknowledged work). */
  readonly messages: number | null;
  /** Not yet delivered to the consumer (num_pending). */
  readonly pending: number | null;
  /** Delivered, not yet acknowledged (num_ack_pending). */
  readonly inFlight: number | null;
  /** Delivered more than once and not yet acknowledged (num_redelivered). */
  readonly redelivered: number | null;
  /** Held on the consumer's dead-letter subject `csda.dlq.<durable>` (DEAD_LETTER keeps them 30 days); null when DEAD_LETTER is missing or silent. */
  readonly deadLettered: number | null;
}

const TIMEOUT_MS = 2_000;
/** One round of NATS requests serves every gauge of one scrape (and concurrent API calls). */
const REUSE_MS = 500;

const apiCode = (err: unknown) => (err instanceof JetStreamApiError ? err.code : undefined);

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads each work queue's figures from JetStream with read-only calls the
 * gateway's NATS user is allowed (STREAM.INFO of every stream, CONSUMER.INFO
 * with `inspectsConsumers`): the stream, its consumer, and the count of its
 * dead letters (DEAD_LETTER info with a subjects filter).
 */
export function createQueueInspector(nats: Pick<Nats, 'jsm' | 'subjects'>) {
  const { jsm, subjects } = nats;
  let last: { at: number; result: Promise<QueueStatus[]> } | undefined;

  const deadLetters = async (): Promise<Map<string, number> | undefined> => {
    try {
      const info = await jsm.streams.info(subjects.stream('DEAD_LETTER'), { subjects_filter: subjects.deadLetter('>') });
      return new Map(Object.entries(info.state.subjects ?? {}));
    } catch {
      // No DEAD_LETTER stream (not provisioned) or no answer: the count is unknown, not zero.
      return undefined;
    }
  };

  const one = async (queue: string, durable: string, dlq: Map<string, number> | undefined): Promise<QueueStatus> => {
    const stream = subjects.stream(queue);
    const base = { queue, stream, consumer: durable, deadLettered: dlq ? (dlq.get(subjects.deadLetter(durable)) ?? 0) : null };
    const none = { messages: null, pending: null, inFlight: null, redelivered: null };
    let messages: number;
    try {
      messages = (await jsm.streams.info(stream)).state.messages;
    } catch (err) {
      return { ...base, ...none, state: apiCode(err) === JetStreamApiCodes.StreamNotFound ? 'stream_missing' : 'unavailable' };
    }
    try {
      const c = await jsm.consumers.info(stream, durable);
      return { ...base, state: 'ok', messages, pending: c.num_pending, inFlight: c.num_ack_pending, redelivered: c.num_redelivered };
    } catch (err) {
      return { ...base, ...none, messages, state: apiCode(err) === JetStreamApiCodes.ConsumerNotFound ? 'consumer_missing' : 'unavailable' };
    }
  };

  const read = async (): Promise<QueueStatus[]> => {
    const dlq = await withTimeout(deadLetters(), TIMEOUT_MS).catch(() => undefined);
    return Promise.all(
      WORK_QUEUES.map(({ queue, durable }) =>
        withTimeout(one(queue, durable, dlq), TIMEOUT_MS).catch(
          (): QueueStatus => ({ queue, stream: subjects.stream(queue), consumer: durable, state: 'unavailable', messages: null, pending: null, inFlight: null, redelivered: null, deadLettered: null }),
        ),
      ),
    );
  };

  return {
    /** Every work queue, in name order; never throws (an unreachable NATS is `unavailable`). */
    snapshot(): Promise<QueueStatus[]> {
      if (!last || Date.now() - last.at > REUSE_MS) last = { at: Date.now(), result: read() };
      return last.result;
    },
  };
}

export type QueueInspector = ReturnType<typeof createQueueInspector>;

/**
 * The same figures as Prometheus gauges, sampled when scraped:
 * `csda_queue_{messages,pending,in_flight,redelivered,dead_lettered}{queue,consumer}`
 * and `csda_queue_consumer_present` (0 when the stream or consumer is missing).
 * A figure NATS did not give has no sample rather than a stale one.
 */
export function registerQueueMetrics(registry: Registry, inspector: Pick<QueueInspector, 'snapshot'>): void {
  const gauge = (name: string, help: string, pick: (q: QueueStatus) => number | null) =>
    new Gauge({
      name,
      help,
      labelNames: ['queue', 'consumer'],
      registers: [registry],
      async collect() {
        const queues = await inspector.snapshot();
        this.reset();
        for (const q of queues) {
          const value = pick(q);
          if (value !== null) this.set({ queue: q.queue, consumer: q.consumer }, value);
        }
      },
    });
  gauge('csda_queue_messages', 'Messages in the work-queue stream.', (q) => q.messages);
  gauge('csda_queue_pending', 'Work not yet delivered to the queue\'s consumer (JetStream num_pending).', (q) => q.pending);
  gauge('csda_queue_in_flight', 'Work delivered and not yet acknowledged (JetStream num_ack_pending).', (q) => q.inFlight);
  gauge('csda_queue_redelivered', 'Work delivered more than once and not yet acknowledged (JetStream num_redelivered).', (q) => q.redelivered);
  gauge('csda_queue_dead_lettered', 'Messages held on the consumer\'s dead-letter subject csda.dlq.<durable>.', (q) => q.deadLettered);
  gauge('csda_queue_consumer_present', '1 when the queue\'s stream and durable consumer exist, 0 when either is missing.', (q) =>
    q.state === 'ok' ? 1 : q.state === 'unavailable' ? null : 0,
  );
}
