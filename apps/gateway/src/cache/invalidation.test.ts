import { create, toBinary } from '@bufbuild/protobuf';
import { ResourceChangedSchema } from '@csda/proto/csda/events/v1/resource_changed_pb.js';
import { SecretRotatedSchema } from '@csda/proto/csda/events/v1/secret_events_pb.js';
import { DocumentAccessChangedSchema, DocumentIndexedSchema } from '@csda/proto/csda/search/v1/index_pb.js';
import { describe, expect, it } from 'vitest';
import { epoch, familyGen, generationKey, itemGen, userGen } from './families.ts';
import { eventInvalidations, writeInvalidations } from './invalidation.ts';

const DOC = '3f2e1d0c-9b8a-4765-8432-10fedcba9876';
const changed = (resourceType: string, change: string) => toBinary(ResourceChangedSchema, create(ResourceChangedSchema, { eventId: 'e1', resourceType, resourceId: DOC, change }));

describe('write invalidations', () => {
  it('a write to a cached family bumps its lists and the item; refused writes and reads bump nothing', () => {
    expect(writeInvalidations('PATCH', '/api/v1/documents/:id', { id: DOC }, 200, () => undefined)).toEqual([familyGen('documents'), itemGen('documents', DOC)]);
    expect(writeInvalidations('DELETE', '/api/v1/tools/:id', { id: DOC }, 204, () => undefined)).toEqual([familyGen('tools'), itemGen('tools', DOC), itemGen('tool_stats', DOC)]);
    expect(writeInvalidations('PUT', '/api/v1/users/:id/roles', { id: 'u1' }, 200, () => undefined)).toEqual([userGen('u1')]);
    // A conflict or a 5xx may have changed something: bump anyway.
    expect(writeInvalidations('PATCH', '/api/v1/vault/secrets/:id', { id: DOC }, 409, () => undefined)).toHaveLength(2);
    expect(writeInvalidations('PATCH', '/api/v1/vault/secrets/:id', { id: DOC }, 503, () => undefined)).toHaveLength(2);
    for (const status of [400, 401, 403, 404, 422, 429]) expect(writeInvalidations('PATCH', '/api/v1/documents/:id', { id: DOC }, status, () => undefined)).toEqual([]);
    expect(writeInvalidations('GET', '/api/v1/documents/:id', { id: DOC }, 200, () => undefined)).toEqual([]);
    // Search is a POST that changes nothing.
    expect(writeInvalidations('POST', '/api/v1/search', {}, 200, () => undefined)).toEqual([]);
  });

  it('a cancel bumps the stats of the tool its answer names', () => {
    expect(writeInvalidations('POST', '/api/v1/tools/executions/:id/cancel', { id: 'x' }, 200, () => ({ tool_id: DOC }))).toEqual([itemGen('tool_stats', DOC)]);
    expect(writeInvalidations('POST', '/api/v1/tools/executions/:id/cancel', { id: 'x' }, 200, () => undefined)).toEqual([familyGen('tool_stats')]);
  });
});

describe('event invalidations', () => {
  it('maps each service’s change events to counters', () => {
    expect(eventInvalidations('document-ingest', ResourceChangedSchema.typeName, changed('document', 'status')).generations).toEqual([familyGen('documents'), itemGen('documents', DOC)]);
    expect(eventInvalidations('document-ingest', ResourceChangedSchema.typeName, changed('document', 'created')).generations).toEqual([familyGen('documents')]);
    expect(eventInvalidations('tool-runner', ResourceChangedSchema.typeName, changed('tool', 'executed')).generations).toEqual([itemGen('tool_stats', DOC)]);
    expect(eventInvalidations('vault', ResourceChangedSchema.typeName, changed('secret', 'rotated')).generations).toEqual([familyGen('secrets'), itemGen('secrets', DOC)]);
    expect(eventInvalidations('search', ResourceChangedSchema.typeName, changed('index', 'access')).generations).toEqual([familyGen('search')]);
    const access = toBinary(DocumentAccessChangedSchema, create(DocumentAccessChangedSchema, { eventId: 'a', documentId: DOC }));
    // Search results wait for search's own event: the index has not applied it yet.
    expect(eventInvalidations('document-ingest', DocumentAccessChangedSchema.typeName, access).generations).toEqual([familyGen('documents'), itemGen('documents', DOC)]);
    const indexed = toBinary(DocumentIndexedSchema, create(DocumentIndexedSchema, { eventId: 'i', documentId: DOC, version: 1 }));
    expect(eventInvalidations('search', DocumentIndexedSchema.typeName, indexed).generations).toEqual([familyGen('documents'), itemGen('documents', DOC), familyGen('search')]);
    const rotated = toBinary(SecretRotatedSchema, create(SecretRotatedSchema, { eventId: 'r', secretId: DOC }));
    expect(eventInvalidations('vault', SecretRotatedSchema.typeName, rotated).generations).toEqual([familyGen('secrets'), itemGen('secrets', DOC)]);
  });

  it('ignores a service speaking for a resource it does not own, and types it does not know', () => {
    const forged = eventInvalidations('tool-runner', ResourceChangedSchema.typeName, changed('document', 'deleted'));
    expect(forged.generations).toEqual([]);
    expect(forged.ignored).toMatch(/tool-runner does not own document/);
    expect(eventInvalidations('tool-runner', 'csda.events.v1.JobResult', new Uint8Array([1, 2])).generations).toEqual([]);
  });

  it('throws on a payload that does not decode (dead-lettered by the consumer)', () => {
    expect(() => eventInvalidations('vault', ResourceChangedSchema.typeName, new Uint8Array([0xff, 0xff, 0xff]))).toThrow();
  });
});

describe('generation keys', () => {
  it('are distinct per counter', () => {
    const keys = [epoch, familyGen('documents'), familyGen('tools'), itemGen('documents', 'a'), itemGen('tools', 'a'), userGen('a')].map(generationKey);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
