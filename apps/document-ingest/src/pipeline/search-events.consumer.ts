import { fromBinary } from '@bufbuild/protobuf';
import { DocumentIndexedSchema } from '@csda/proto/csda/search/v1/index_pb.js';
import { EVENT_TYPE_HEADER, PermanentMessageError, type DurableConsumerSpec, type MessageHandler, type Subjects } from '@csda/service-kit';
import type { PipelineRepository } from './pipeline.repository.ts';

/** document-ingest's durable on EVENTS, bound to search's document.indexed (the filter nats-permissions.ts grants). */
export const SEARCH_EVENTS_DURABLE = 'document-ingest-search-events';
const BACKOFF_MS: readonly number[] = [1_000, 5_000, 15_000, 30_000, 60_000, 120_000];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function searchEventsSpec(subjects: Subjects): DurableConsumerSpec {
  return {
    stream: subjects.stream('EVENTS'),
    durable: SEARCH_EVENTS_DURABLE,
    filterSubject: subjects.subject('csda.events.search.document.indexed'),
    maxDeliver: BACKOFF_MS.length + 1,
    ackWaitMs: 30_000,
    backoffMs: BACKOFF_MS,
  };
}

/** search made a version queryable: that version is ready (idempotent; an older version only moves nothing). */
export function createSearchEventsHandler(deps: { repo: Pick<PipelineRepository, 'indexed'>; kick: () => void }): MessageHandler {
  return async (msg, log) => {
    const type = msg.headers?.get(EVENT_TYPE_HEADER) || undefined;
    if (type && type !== DocumentIndexedSchema.typeName) throw new PermanentMessageError(`${EVENT_TYPE_HEADER} is ${type}, expected ${DocumentIndexedSchema.typeName}`);
    let event;
    try {
      event = fromBinary(DocumentIndexedSchema, msg.data);
    } catch (err) {
      throw new PermanentMessageError('undecodable DocumentIndexed', { cause: err });
    }
    if (!UUID.test(event.documentId) || event.version < 1) throw new PermanentMessageError('DocumentIndexed without a valid document_id and version');
    const { ready } = await deps.repo.indexed(event.documentId.toLowerCase(), event.version);
    if (ready) deps.kick();
    log.info({ document_id: event.documentId, version: event.version, chunks: event.chunkCount, ready }, ready ? 'document ready: search serves it' : 'indexed report for a version not waiting (older, or already ready)');
  };
}
