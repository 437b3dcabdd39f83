import { fromBinary } from '@bufbuild/protobuf';
import { JobResultSchema } from '@csda/proto/csda/events/v1/job_result_pb.js';
import { SecretExpiredSchema, SecretExpiringSchema } from '@csda/proto/csda/events/v1/secret_events_pb.js';
import {
  createBatcher,
  EVENT_TYPE_HEADER,
  PermanentMessageError,
  type DurableConsumerSpec,
  type JsMsg,
  type Logger,
  type MessageHandler,
  type Subjects,
} from '@csda/service-kit';
import type { AlertInput } from '../alerts/alert.repository.ts';
import { jobResultFact, type JobResultFact } from './job-result.ts';

/** The scheduler's durable consumer on EVENTS (the name nats-permissions.ts grants it). */
export function eventsConsumerSpec(subjects: Subjects): DurableConsumerSpec {
  return {
    stream: subjects.stream('EVENTS'),
    durable: 'scheduler-events',
    filterSubject: subjects.subject('csda.events.>'),
    maxDeliver: 10,
    ackWaitMs: 30_000,
    backoffMs: [1_000, 5_000, 15_000, 30_000, 60_000],
  };
}

/** Messages handled at once; their writes share one transaction. */
export const EVENTS_CONSUMER_CONCURRENCY = 256;

/**
 * Which service's workers report each job type: a JobResult for it on any
 * other service's subject is ignored (a service may publish only under its
 * own name, so this pins results to the worker that runs the job).
 */
export const JOB_WORKERS: Readonly<Record<string, string>> = { rotate_secret: 'vault', run_tool: 'tool-runner', reindex_document: 'document-ingest' };

/** Event types (besides JobResult) the scheduler acts on, with the only service that may publish them. */
const EVENT_PUBLISHERS: Readonly<Record<string, string>> = {
  [SecretExpiringSchema.typeName]: 'vault',
  [SecretExpiredSchema.typeName]: 'vault',
};

/** What one event asks of the scheduler. */
export interface EventWork {
  readonly result?: JobResultFact;
  readonly alert?: AlertInput;
}

export interface EventsHandlerDeps {
  readonly subjects: Subjects;
  /** H-E's pure mapping from an event to the alert it raises. */
  readonly alertForEvent: (eventType: string, payload: Uint8Array) => AlertInput | undefined;
  /** Folds results and raises alerts together (one transaction). */
  readonly apply: (results: readonly JobResultFact[], alerts: readonly AlertInput[]) => Promise<void>;
  /** Batch size and wait (defaults 256 / 10 ms). */
  readonly batch?: { maxSize: number; maxWaitMs: number };
}

/**
 * Decides what an EVENTS message asks for; nothing for types the scheduler
 * does not act on or a publisher that may not send them. A payload that does
 * not decode is permanent (dead-lettered).
 */
export function eventWork(msg: Pick<JsMsg, 'subject' | 'data' | 'headers'>, deps: Pick<EventsHandlerDeps, 'subjects' | 'alertForEvent'>, logger: Logger): EventWork | undefined {
  const type = msg.headers?.get(EVENT_TYPE_HEADER) ?? '';
  const prefix = deps.subjects.subject('csda.events.');
  const publisher = msg.subject.startsWith(prefix) ? msg.subject.slice(prefix.length).split('.')[0] : undefined;
  const alertFor = () => {
    try {
      return deps.alertForEvent(type, msg.data);
    } catch (err) {
      throw new PermanentMessageError(`payload is not a valid ${type}`, { cause: err });
    }
  };
  if (type === JobResultSchema.typeName) {
    let decoded;
    try {
      decoded = fromBinary(JobResultSchema, msg.data);
    } catch (err) {
      throw new PermanentMessageError(`payload is not a valid ${type}`, { cause: err });
    }
    const fact = jobResultFact(decoded);
    if ('problem' in fact) throw new PermanentMessageError(`JobResult cannot be recorded: ${fact.problem}`);
    if (JOB_WORKERS[fact.jobType] !== publisher) {
      logger.warn({ subject: msg.subject, job_type: fact.jobType }, 'JobResult from a service that does not run this job type, ignored');
      return undefined;
    }
    return { result: fact, alert: alertFor() };
  }
  const allowed = EVENT_PUBLISHERS[type];
  if (!allowed) return undefined;
  if (allowed !== publisher) {
    logger.warn({ subject: msg.subject, event_type: type }, 'event from a service that may not publish it, ignored');
    return undefined;
  }
  const alert = alertFor();
  return alert ? { alert } : undefined;
}

/**
 * The EVENTS handler: JobResults fold into job records, alerts are raised
 * once per dedupe key; both idempotent, so a redelivery changes nothing.
 * Concurrent messages are written together; each is acked after its batch
 * commits (a failed batch is retried item by item, so one bad event does not
 * hold back the others).
 */
export function createEventsHandler(deps: EventsHandlerDeps): MessageHandler {
  const applyAll = (items: readonly EventWork[]) =>
    deps.apply(
      items.flatMap((w) => (w.result ? [w.result] : [])),
      items.flatMap((w) => (w.alert ? [w.alert] : [])),
    );
  const batcher = createBatcher<EventWork>(
    async (items) => {
      try {
        await applyAll(items);
        return undefined;
      } catch {
        return Promise.all(items.map((w) => applyAll([w]).then(() => undefined, (err: unknown) => err ?? new Error('apply failed'))));
      }
    },
    deps.batch ?? { maxSize: EVENTS_CONSUMER_CONCURRENCY, maxWaitMs: 10 },
  );
  return async (msg, logger) => {
    const work = eventWork(msg, deps, logger);
    if (!work || (!work.result && !work.alert)) return;
    await batcher.add(work);
  };
}
