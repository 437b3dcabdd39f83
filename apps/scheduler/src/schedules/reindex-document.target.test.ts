import { create } from '@bufbuild/protobuf';
import { ScheduleTargetSchema } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import { describe, expect, it } from 'vitest';
import { describeIngestRefusal, versionJobId } from './reindex-document.target.ts';
import { targetFromProto, targetFromStored, targetToProto } from './targets.ts';
import { validationDetails } from '@csda/testing';

const DOC = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';

const reindex = (documentId: string) => create(ScheduleTargetSchema, { kind: { case: 'reindexDocument', value: { documentId } } });

describe('reindex_document target', () => {
  it('maps the proto oneof to stored data and back, normalizing the id', () => {
    const target = targetFromProto(reindex(` ${DOC.toUpperCase()}\t`));
    expect(target).toEqual({ type: 'reindex_document', data: { document_id: DOC } });
    expect(targetFromStored('reindex_document', JSON.parse(JSON.stringify(target.data)))).toEqual(target);
    expect(targetToProto(target).kind).toEqual({ case: 'reindexDocument', value: expect.objectContaining({ documentId: DOC }) });
  });

  it('names target.document_id for anything but a UUID', () => {
    for (const documentId of ['', 'abc', '../documents/x', "x' or 1=1 --", `${DOC}0`, `${DOC}\n${DOC}`, DOC.replaceAll('-', '')]) {
      expect(validationDetails(() => targetFromProto(reindex(documentId))), JSON.stringify(documentId)).toEqual({ 'target.document_id': 'a document id (UUID)' });
    }
  });

  it('refuses stored rows that do not fit (a bug, not input)', () => {
    expect(() => targetFromStored('reindex_document', {})).toThrow(TypeError);
    expect(() => targetFromStored('reindex_document', { documentId: DOC })).toThrow(TypeError);
    expect(() => targetFromStored('reindex_document', { document_id: 7 })).toThrow(TypeError);
    expect(() => targetFromStored('reindex_document', null)).toThrow(TypeError);
  });

  it('names the run by document and version', () => {
    expect(versionJobId(DOC, 3)).toBe(`${DOC}:v3`);
  });

  it("words a refusal with document-ingest's message, code and named fields, bounded", () => {
    expect(describeIngestRefusal({ code: 'NOT_FOUND', message: `document ${DOC} not found`, details: {} })).toBe(`document-ingest refused: document ${DOC} not found (NOT_FOUND)`);
    expect(describeIngestRefusal({ code: 'VALIDATION_ERROR', message: 'Invalid', details: { id: 'a UUID' } })).toBe('document-ingest refused: Invalid (VALIDATION_ERROR; id: a UUID)');
    const long = describeIngestRefusal({ code: 'VALIDATION_ERROR', message: 'x'.repeat(5_000), details: {} });
    expect(long).toHaveLength(1_000);
    expect(long.endsWith('…')).toBe(true);
  });
});
