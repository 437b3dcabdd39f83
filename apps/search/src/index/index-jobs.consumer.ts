import { PermanentMessageError, type DurableConsumerSpec, type JsMsg, type MessageHandler, type Subjects } from '@csda/service-kit';
import { parseIndexBatch } from './index-messages.ts';
import type { Indexer } from './indexer.ts';

/** search's durable on JOBS_SEARCH (the name nats-permissions.ts grants it). */
export const INDEX_JOBS_DURABLE = 'search-index-jobs';
/** Redelivery delays of a batch that failed (database away, deadlock); after the last one it is dead-lettered. */
export const INDEX_JOBS_BACKOFF_MS: readonly number[] = [1_000, 5_000, 15_000, 30_000, 60_000, 120_000, 300_000];

/**
 * The consumer as the handler sees it (retry delays are its own nak(delay)).
 * `consumerConfig` drops the back-off for the server: a server-side BackOff
 * list would replace ack_wait by its first entry, and a long swap would come
 * back as a redelivery while it still runs.
 */
export function indexJobsSpec(subjects: Subjects, ackWaitMs: number): DurableConsumerSpec {
  return {
    stream: subjects.stream('JOBS_SEARCH'),
    durable: INDEX_JOBS_DURABLE,
    filterSubject: subjects.subject('csda.jobs.search.>'),
    maxDeliver: INDEX_JOBS_BACKOFF_MS.length + 1,
    ackWaitMs,
    backoffMs: INDEX_JOBS_BACKOFF_MS,
  };
}

export const consumerConfig = (spec: DurableConsumerSpec): DurableConsumerSpec => ({ ...spec, backoffMs: [] });

/** SQLSTATE classes a retry cannot fix: data exceptions (22) and integrity violations (23), e.g. a chunk id another version owns. */
export function isPermanentDatabaseError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^2[23][0-9A-Z]{3}$/.test(code);
}

/** Tells JetStream the message is still being worked on while `work` runs. */
export async function withHeartbeat<T>(msg: JsMsg, ackWaitMs: number, work: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => msg.working(), Math.max(1_000, Math.floor(ackWaitMs / 3)));
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/**
 * One IndexChunksBatch: stage it (a no-op for a duplicate), then see whether
 * its version is complete and make it live. The second step runs for
 * duplicates too, so a batch redelivered after a crash between the two still
 * completes its version. The ack (by the consumer loop) follows both commits.
 */
export function createIndexJobsHandler(deps: { indexer: Pick<Indexer, 'stage' | 'complete'>; ackWaitMs: number }): MessageHandler {
  return async (msg, log) => {
    const batch = parseIndexBatch(msg.data);
    const ids = { document_id: batch.documentId, version: batch.version, batch: `${batch.batchIndex + 1}/${batch.batchCount}` };
    await withHeartbeat(msg, deps.ackWaitMs, async () => {
      try {
        const staged = await deps.indexer.stage(batch);
        if (staged === 'deleted' || staged === 'superseded') {
          log.info({ ...ids, outcome: staged }, staged === 'deleted' ? 'batch of a deleted version dropped' : 'batch of a version not newer than the live one dropped');
          return;
        }
        const done = await deps.indexer.complete(batch);
        if (done.kind === 'promoted') log.info({ ...ids, chunks: done.chunkCount }, 'document version indexed and live');
        else log.debug({ ...ids, staged, ...done }, 'batch staged');
      } catch (err) {
        if (!(err instanceof PermanentMessageError) && isPermanentDatabaseError(err)) {
          throw new PermanentMessageError(`document ${batch.documentId} v${batch.version} batch ${batch.batchIndex}: ${(err as Error).message}`, { cause: err });
        }
        throw err;
      }
    });
  };
}
