import { EVENT_TYPE_HEADER, PermanentMessageError, type DurableConsumerSpec, type JsMsg, type Logger, type Subjects } from '@csda/service-kit';
import { eventInvalidations } from './invalidation.ts';
import type { ResponseCache } from './response-cache.ts';

/** The gateway's durable on EVENTS (the name and filter nats-permissions.ts grant it). */
export const CACHE_EVENTS_DURABLE = 'gateway-cache-events';

/**
 * One durable shared by the gateway replicas: the counters live in Redis, so
 * one bump is seen by every replica. It starts at the events published after
 * it exists (older entries expire by their TTL). A bump that fails (Redis down)
 * is retried by redelivery.
 */
export function cacheEventsSpec(subjects: Subjects): DurableConsumerSpec {
  return {
    stream: subjects.stream('EVENTS'),
    durable: CACHE_EVENTS_DURABLE,
    filterSubject: subjects.subject('csda.events.>'),
    maxDeliver: 10,
    ackWaitMs: 30_000,
    backoffMs: [250, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000],
    deliverPolicy: 'new',
  };
}

/** Turns change events into generation bumps (invalidation.ts says which). */
export function createCacheEventsHandler(deps: { cache: Pick<ResponseCache, 'bump'>; subjects: Subjects }) {
  const prefix = deps.subjects.subject('csda.events.');
  return async (msg: JsMsg, logger: Logger): Promise<void> => {
    const type = msg.headers?.get(EVENT_TYPE_HEADER) ?? '';
    const publisher = msg.subject.startsWith(prefix) ? (msg.subject.slice(prefix.length).split('.')[0] ?? '') : '';
    let decided;
    try {
      decided = eventInvalidations(publisher, type, msg.data);
    } catch (err) {
      throw new PermanentMessageError(`payload is not a valid ${type}`, { cause: err });
    }
    if (decided.ignored) logger.warn({ subject: msg.subject, event_type: type }, `change event ignored: ${decided.ignored}`);
    if (decided.generations.length === 0) return;
    await deps.cache.bump(decided.generations, 'event');
    logger.debug({ subject: msg.subject, bumped: decided.generations.length }, 'cache generations bumped');
  };
}
