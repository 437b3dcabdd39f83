import { create, toBinary } from '@bufbuild/protobuf';
import { DocumentStageJobSchema } from '@csda/proto/csda/ingest/v1/document_jobs_pb.js';
import { DocumentParseError, UnsupportedDocumentError } from '@csda/documents';
import { EmbeddingUnavailableError } from '@csda/embeddings';
import { PermanentMessageError } from '@csda/service-kit';
import { describe, expect, it } from 'vitest';
import { BlobNotFoundError } from '../blobs/blob-store.ts';
import { DocumentFailure, classifyFailure } from './failures.ts';
import type { StageContext } from './pipeline.repository.ts';
import { decodeStageJob, isAt } from './stage-jobs.consumer.ts';

const DOC = '0b6f7c1e-6a8e-4a53-9a57-6c8a3b0f1d20';
const job = (fields: Partial<{ documentId: string; version: number; stage: string }>) => toBinary(DocumentStageJobSchema, create(DocumentStageJobSchema, { documentId: DOC, version: 1, stage: 'parse', ...fields }));

describe('stage jobs', () => {
  it('decodes a valid job and dead-letters malformed ones at once', () => {
    expect(decodeStageJob(job({ documentId: DOC.toUpperCase(), stage: 'embed', version: 4 }))).toEqual({ documentId: DOC, version: 4, stage: 'embed' });
    for (const bad of [job({ documentId: 'nope' }), job({ version: 0 }), job({ stage: 'publish' }), new Uint8Array([0xff, 0xff, 0xff])]) {
      expect(() => decodeStageJob(bad)).toThrow(PermanentMessageError);
    }
  });

  it('runs a stage only for a version at that stage', () => {
    const ctx = (status: StageContext['status'], publishedAt: Date | null = null) => ({ status, publishedAt }) as StageContext;
    expect(isAt(ctx('queued'), 'parse')).toBe(true);
    expect(isAt(ctx('parsing'), 'parse')).toBe(true);
    expect(isAt(ctx('chunking'), 'parse')).toBe(false);
    expect(isAt(ctx('embedding'), 'embed')).toBe(true);
    expect(isAt(ctx('indexing'), 'index')).toBe(true);
    expect(isAt(ctx('indexing', new Date()), 'index')).toBe(false);
    for (const done of ['ready', 'failed', 'superseded'] as const) expect(isAt(ctx(done), 'chunk')).toBe(false);
  });

  it('fails the document for a bad file, retries what may pass later', () => {
    expect(classifyFailure(new DocumentParseError('encrypted', 'pdf', 'PDF is encrypted with a user password'))).toEqual({ permanent: true, reason: 'PDF is encrypted with a user password' });
    expect(classifyFailure(new DocumentParseError('crashed', 'pdf', 'the parse worker stopped unexpectedly'))).toMatchObject({ permanent: false });
    expect(classifyFailure(new UnsupportedDocumentError('empty', 'the file is empty (0 bytes)', 'nothing', '.txt'))).toMatchObject({ permanent: true });
    expect(classifyFailure(new BlobNotFoundError('s3', 'k'))).toEqual({ permanent: true, reason: 'the stored original is missing' });
    expect(classifyFailure(new DocumentFailure('chunking took longer than 60 s'))).toMatchObject({ permanent: true });
    expect(classifyFailure(new EmbeddingUnavailableError('http', 'HTTP 503'))).toEqual({ permanent: false, reason: 'embedding model unavailable: HTTP 503' });
    // A database error is retried and its text (which may name tables or values) is not shown.
    expect(classifyFailure(Object.assign(new Error('duplicate key value violates unique constraint "chunks_id_key"'), { code: '23505' }))).toEqual({ permanent: false, reason: 'database error (23505)' });
  });
});
