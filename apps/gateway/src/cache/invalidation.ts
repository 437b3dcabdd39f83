import { fromBinary } from '@bufbuild/protobuf';
import { ResourceChangedSchema } from '@csda/proto/csda/events/v1/resource_changed_pb.js';
import { SecretExpiredSchema, SecretExpiringSchema, SecretRotatedSchema } from '@csda/proto/csda/events/v1/secret_events_pb.js';
import { DocumentAccessChangedSchema, DocumentDeletedSchema, DocumentIndexedSchema } from '@csda/proto/csda/search/v1/index_pb.js';
import { familyGen, itemGen, userGen, type Generation } from './families.ts';

/**
 * What each of the gateway's own writes invalidates, by route pattern; bumped
 * before the answer is sent, so the writer's next read is fresh on every
 * replica (the counters live in Redis). The owning service's change event bumps
 * the same counters again a moment later (for writes made elsewhere, and as the
 * retry when Redis was down at the time).
 */
// Search results are invalidated by search itself, once its index holds a change (index events,
// document.indexed): a bump when document-ingest announces it would come before the index changes.
const document = (id: string) => [familyGen('documents'), itemGen('documents', id)];
const tool = (id: string) => [familyGen('tools'), itemGen('tools', id), itemGen('tool_stats', id)];
const secret = (id: string) => [familyGen('secrets'), itemGen('secrets', id)];

type Params = Readonly<Record<string, string | undefined>>;
const WRITES: Readonly<Record<string, (p: Params, answer: unknown) => Generation[]>> = {
  'POST /api/v1/documents': () => [familyGen('documents')],
  'PATCH /api/v1/documents/:id': (p) => document(p.id!),
  'DELETE /api/v1/documents/:id': (p) => document(p.id!),
  'POST /api/v1/documents/:id/reindex': (p) => document(p.id!),
  'POST /api/v1/tools': () => [familyGen('tools')],
  'PATCH /api/v1/tools/:id': (p) => tool(p.id!),
  'DELETE /api/v1/tools/:id': (p) => tool(p.id!),
  'POST /api/v1/tools/:id/execute': (p) => [itemGen('tool_stats', p.id!)],
  'POST /api/v1/tools/executions/:id/cancel': (_p, answer) => {
    const toolId = (answer as { tool_id?: unknown } | undefined)?.tool_id;
    return typeof toolId === 'string' ? [itemGen('tool_stats', toolId)] : [familyGen('tool_stats')];
  },
  'POST /api/v1/vault/secrets': () => [familyGen('secrets')],
  'PATCH /api/v1/vault/secrets/:id': (p) => secret(p.id!),
  'DELETE /api/v1/vault/secrets/:id': (p) => secret(p.id!),
  'PUT /api/v1/vault/secrets/:id/value': (p) => secret(p.id!),
  'POST /api/v1/vault/secrets/:id/rotate': (p) => secret(p.id!),
  'DELETE /api/v1/vault/secrets/:id/grants/:tool_id': (p) => [...secret(p.id!), itemGen('tools', p.tool_id!)],
  'PATCH /api/v1/users/:id': (p) => [userGen(p.id!)],
  'DELETE /api/v1/users/:id': (p) => [userGen(p.id!)],
  'PUT /api/v1/users/:id/roles': (p) => [userGen(p.id!)],
};

/** Statuses of a write that was refused before anything changed: nothing to invalidate. */
const REFUSED = new Set([400, 401, 403, 404, 405, 413, 415, 422, 429]);

/**
 * The counters a gateway write invalidates, or none when the route caches
 * nothing or the write was refused. Anything else (2xx, a conflict, a 5xx that
 * may have committed) bumps: a needless bump only costs a miss.
 */
export function writeInvalidations(method: string, route: string | undefined, params: Params, status: number, answer: () => unknown): Generation[] {
  if (method === 'GET' || method === 'HEAD' || !route || REFUSED.has(status)) return [];
  const rule = WRITES[`${method} ${route}`];
  return rule ? rule(params, answer()) : [];
}

/** The routes above, for the test that every write route of a cached family is listed. */
export const INVALIDATING_WRITES: readonly string[] = Object.keys(WRITES);

/** Which service may say what changed: an event about a resource from anyone else is ignored. */
const OWNERS: Readonly<Record<string, string>> = { document: 'document-ingest', tool: 'tool-runner', secret: 'vault', index: 'search' };

export interface EventInvalidation {
  readonly generations: Generation[];
  /** Set when the event is ignored (a publisher that does not own the resource). */
  readonly ignored?: string;
}

/**
 * The counters an EVENTS message invalidates (`publisher` = the service named
 * in its subject, `verb` = the rest). Unknown types invalidate nothing. Throws
 * when a known type's payload does not decode (the consumer dead-letters it).
 */
export function eventInvalidations(publisher: string, type: string, data: Uint8Array): EventInvalidation {
  switch (type) {
    case ResourceChangedSchema.typeName: {
      const e = fromBinary(ResourceChangedSchema, data);
      if (OWNERS[e.resourceType] !== publisher) return { generations: [], ignored: `${publisher} does not own ${e.resourceType || 'an unnamed resource type'}` };
      if (!e.resourceId) throw new Error('ResourceChanged without resource_id');
      switch (e.resourceType) {
        case 'document':
          return { generations: e.change === 'created' ? [familyGen('documents')] : document(e.resourceId) };
        case 'tool':
          if (e.change === 'created') return { generations: [familyGen('tools')] };
          return { generations: e.change === 'executed' ? [itemGen('tool_stats', e.resourceId)] : tool(e.resourceId) };
        case 'secret':
          return { generations: e.change === 'created' ? [familyGen('secrets')] : secret(e.resourceId) };
        default:
          // search's index: an access change or deletion applied, or a replica started with its model.
          return { generations: [familyGen('search')] };
      }
    }
    case DocumentDeletedSchema.typeName:
    case DocumentAccessChangedSchema.typeName: {
      if (publisher !== 'document-ingest') return { generations: [], ignored: `${publisher} does not own documents` };
      const e = type === DocumentDeletedSchema.typeName ? fromBinary(DocumentDeletedSchema, data) : fromBinary(DocumentAccessChangedSchema, data);
      return { generations: document(e.documentId) };
    }
    case DocumentIndexedSchema.typeName: {
      if (publisher !== 'search') return { generations: [], ignored: `${publisher} is not search` };
      return { generations: [...document(fromBinary(DocumentIndexedSchema, data).documentId), familyGen('search')] };
    }
    case SecretRotatedSchema.typeName:
    case SecretExpiringSchema.typeName:
    case SecretExpiredSchema.typeName: {
      if (publisher !== 'vault') return { generations: [], ignored: `${publisher} is not the vault` };
      const schema = type === SecretRotatedSchema.typeName ? SecretRotatedSchema : type === SecretExpiringSchema.typeName ? SecretExpiringSchema : SecretExpiredSchema;
      return { generations: secret(fromBinary(schema, data).secretId) };
    }
    default:
      return { generations: [] };
  }
}
