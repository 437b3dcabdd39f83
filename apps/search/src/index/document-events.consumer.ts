import { DocumentAccessChangedSchema, DocumentDeletedSchema } from '@csda/proto/csda/search/v1/index_pb.js';
import { EVENT_TYPE_HEADER, PermanentMessageError, type DurableConsumerSpec, type MessageHandler, type Subjects } from '@csda/service-kit';
import { isPermanentDatabaseError } from './index-jobs.consumer.ts';
import { parseAccessChanged, parseDocumentDeleted } from './index-messages.ts';
import type { Indexer } from './indexer.ts';

/** search's durable on EVENTS (the name and filter nats-permissions.ts grant it). */
export const DOCUMENT_EVENTS_DURABLE = 'search-document-events';
const BACKOFF_MS: readonly number[] = [1_000, 5_000, 15_000, 30_000, 60_000, 120_000];

export function documentEventsSpec(subjects: Subjects): DurableConsumerSpec {
  return {
    stream: subjects.stream('EVENTS'),
    durable: DOCUMENT_EVENTS_DURABLE,
    filterSubject: subjects.subject('csda.events.document-ingest.document.>'),
    maxDeliver: BACKOFF_MS.length + 1,
    ackWaitMs: 60_000,
    backoffMs: BACKOFF_MS,
  };
}

/**
 * document-ingest's document facts: `document.deleted` (a tombstone) and
 * `document.access_changed` (applied when newer by access_seq). Other
 * document events are not search's business and are acknowledged unread.
 */
export function createDocumentEventsHandler(deps: { indexer: Pick<Indexer, 'delete' | 'changeAccess'>; subjects: Subjects }): MessageHandler {
  const prefix = deps.subjects.subject('csda.events.document-ingest.document.');
  const expectType = (type: string | undefined, want: string) => {
    if (type && type !== want) throw new PermanentMessageError(`${EVENT_TYPE_HEADER} is ${type}, expected ${want}`);
  };
  return async (msg, log) => {
    const verb = msg.subject.startsWith(prefix) ? msg.subject.slice(prefix.length) : '';
    const type = msg.headers?.get(EVENT_TYPE_HEADER) || undefined;
    try {
      if (verb === 'deleted') {
        expectType(type, DocumentDeletedSchema.typeName);
        const deletion = parseDocumentDeleted(msg.data);
        const result = await deps.indexer.delete(deletion);
        log.info({ document_id: deletion.documentId, version: deletion.version ?? 'all', ...result }, 'document deletion applied');
      } else if (verb === 'access_changed') {
        expectType(type, DocumentAccessChangedSchema.typeName);
        const change = parseAccessChanged(msg.data);
        const applied = await deps.indexer.changeAccess(change);
        log.info({ document_id: change.documentId, access_seq: change.access.accessSeq.toString(), applied }, applied ? 'document access changed' : 'older access change ignored');
      } else {
        log.debug({ subject: msg.subject }, 'document event not handled by search');
      }
    } catch (err) {
      if (!(err instanceof PermanentMessageError) && isPermanentDatabaseError(err)) throw new PermanentMessageError((err as Error).message, { cause: err });
      throw err;
    }
  };
}
