import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { headers as natsHeaders } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { EVENT_ID_HEADER, type DurableConsumerSpec, type Nats } from './events.ts';
import type { CheckResult } from './health.ts';
import type { ConsumerMetrics } from './metrics.ts';
import { SpanKind, extractTraceContext, withSpan } from './telemetry.ts';

/** Thrown by a handler for a message that can never succeed: dead-lettered at once. */
export class PermanentMessageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentMessageError';
  }
}

/** Handles one message; `logger` carries the message's subject, seq and event id when debug logging is on (building it costs, so only then). */
export type MessageHandler = (msg: JsMsg, logger: Logger) => Promise<void>;

export interface ConsumerOptions {
  readonly spec: DurableConsumerSpec;
  readonly handler: MessageHandler;
  readonly logger: Logger;
  /** Messages handled at once. */
  readonly concurrency: number;
  /** Pending / ack-pending (sampled at scrape time), redelivered and dead-lettered counts (`runtime.metrics.consumers`). */
  readonly metrics?: ConsumerMetrics;
}

export interface RunningConsumer {
  /** Stops pulling, waits for in-flight handlers, leaves unacked messages for redelivery. */
  stop(): Promise<void>;
  /** Readiness: failing once the pull loop has ended on its own (consumer deleted, connection closed). */
  check(): Promise<CheckResult>;
}

/**
 * A durable pull consumer loop: ack on success, nak with the spec's backoff
 * on failure, and after the last delivery (or a PermanentMessageError) a copy
 * to the dead-letter subject followed by term.
 */
export async function startConsumer(nats: Nats, options: ConsumerOptions): Promise<RunningConsumer> {
  const { spec, logger } = options;
  const consumer: Consumer = await nats.js.consumers.get(spec.stream, spec.durable);
  const messages: ConsumerMessages = await consumer.consume({ max_messages: options.concurrency * 2 });
  const inFlight = new Set<Promise<void>>();
  const labels = { stream: spec.stream, consumer: spec.durable };
  const untrack = options.metrics?.track(labels, () => consumer.info());

  const handleOne = async (msg: JsMsg): Promise<void> => {
    if (msg.info.deliveryCount > 1) options.metrics?.redelivered(labels);
    const eventId = msg.headers?.get(EVENT_ID_HEADER) ?? '';
    // A child logger costs a redaction pass over its bindings: make it only when something is logged.
    let child: Logger | undefined;
    const log = () => (child ??= logger.child({ subject: msg.subject, seq: msg.seq, event_id: eventId, delivery: msg.info.deliveryCount }));
    const parent = extractTraceContext({ get: (k) => msg.headers?.get(k), set: () => undefined });
    await withSpan(`consume ${spec.durable}`, SpanKind.CONSUMER, parent, async () => {
      try {
        await options.handler(msg, logger.isLevelEnabled('debug') ? log() : logger);
        msg.ack();
      } catch (err) {
        const permanent = err instanceof PermanentMessageError;
        if (permanent || msg.info.deliveryCount >= spec.maxDeliver) {
          await deadLetter(nats, spec, msg, err).catch((dlqErr: unknown) => log().error({ err: dlqErr }, 'dead-letter publish failed'));
          msg.term();
          options.metrics?.deadLettered(labels, permanent ? 'permanent' : 'exhausted');
          log().error({ err }, permanent ? 'message rejected, dead-lettered' : 'message exhausted its deliveries, dead-lettered');
          return;
        }
        const delay = spec.backoffMs[msg.info.deliveryCount - 1] ?? spec.backoffMs.at(-1) ?? 1_000;
        msg.nak(delay);
        log().warn({ err, retry_in_ms: delay }, 'message failed, will be redelivered');
      }
    });
  };

  let stopping = false;
  let ended: string | undefined;
  const loop = (async () => {
    for await (const msg of messages) {
      while (inFlight.size >= options.concurrency) await Promise.race(inFlight);
      const task = handleOne(msg).finally(() => inFlight.delete(task));
      inFlight.add(task);
    }
  })().then(
    () => {
      if (!stopping) {
        ended = 'consumer stopped pulling';
        logger.error({ consumer: spec.durable }, 'consumer loop ended unexpectedly');
      }
    },
    (err: unknown) => {
      ended = 'consumer failed';
      logger.error({ err, consumer: spec.durable }, 'consumer loop failed');
    },
  );

  return {
    async stop() {
      stopping = true;
      messages.stop();
      await loop;
      await Promise.allSettled(inFlight);
      untrack?.();
    },
    async check() {
      return ended ? { ok: false, detail: ended } : { ok: true };
    },
  };
}

async function deadLetter(nats: Nats, spec: DurableConsumerSpec, msg: JsMsg, err: unknown): Promise<void> {
  const h = natsHeaders();
  for (const [key, values] of msg.headers ?? []) for (const v of values) h.append(key, v);
  h.set('Csda-Dead-Letter-Subject', msg.subject);
  h.set('Csda-Dead-Letter-Consumer', spec.durable);
  h.set('Csda-Dead-Letter-Reason', err instanceof Error ? err.message.slice(0, 200) : 'handler failed');
  const id = msg.headers?.get(EVENT_ID_HEADER);
  await nats.js.publish(nats.subjects.deadLetter(spec.durable), msg.data, { headers: h, ...(id ? { msgID: `dlq-${id}` } : {}) });
}
