import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { principalFrom } from '@csda/auth';
import { ValidationError, toConnectError } from '@csda/errors';
import {
  DocumentSchema,
  DocumentStatusSchema,
  type Document,
  type DocumentIngestService,
  type DocumentStatus,
  type UploadDocumentRequest,
} from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import type { DocumentService } from './document.service.ts';
import type { DocumentRecord } from './document.types.ts';

export function statusToProto(d: DocumentRecord): DocumentStatus {
  const s = d.state;
  return create(DocumentStatusSchema, {
    status: s.status,
    stage: s.stage ?? '',
    version: s.version,
    pagesParsed: s.pagesParsed,
    pagesTotal: s.pagesTotal,
    chunksEmbedded: s.chunksEmbedded,
    chunksTotal: s.chunksTotal,
    attempts: s.attempts,
    stageMs: Object.fromEntries(Object.entries(s.stageMs).map(([k, v]) => [k, BigInt(Math.round(v))])),
    error: s.error ?? '',
    failedStage: s.failedStage ?? '',
    indexedVersion: d.indexedVersion ?? 0,
    model: s.model ?? '',
    updatedAtMs: BigInt(s.updatedAt.getTime()),
  });
}

export function documentToProto(d: DocumentRecord): Document {
  return create(DocumentSchema, {
    id: d.id,
    ownerId: d.ownerId,
    title: d.title,
    tags: [...d.tags],
    isPublic: d.isPublic,
    sharedWithRoles: [...d.sharedRoles],
    filename: d.filename,
    format: d.format,
    mimeType: d.mimeType,
    sizeBytes: BigInt(d.sizeBytes),
    sha256: d.sha256,
    status: statusToProto(d),
    createdAtMs: BigInt(d.createdAt.getTime()),
    updatedAtMs: BigInt(d.updatedAt.getTime()),
    accessSeq: d.accessSeq,
  });
}

/**
 * The upload stream's bytes after its metadata, up to its end message. A
 * stream that stops without that message was cancelled (a Node HTTP/2 server
 * ends the request stream on the caller's RST_STREAM as on its END_STREAM):
 * it fails, and the store drops what it had written, so a cut-off file is
 * never stored as if it were whole. A second metadata message is refused.
 */
async function* chunksOf(rest: AsyncIterator<UploadDocumentRequest>): AsyncIterable<Uint8Array> {
  for (;;) {
    const next = await rest.next();
    if (next.done) throw new ValidationError('The upload ended without its end message: it was cancelled, nothing was stored', { end: 'required after the last chunk' });
    const part = next.value.part;
    if (part.case === 'chunk') yield part.value;
    else if (part.case === 'end') return;
    else if (part.case === 'metadata') throw new ValidationError('The metadata comes once, in the first message', { metadata: 'only in the first message' });
  }
}

/** Bytes per message of GetDocumentContent. */
const CONTENT_CHUNK = 256 * 1024;

/** DocumentIngestService's document RPCs: proto ↔ domain mapping only. */
export function createDocumentsRpc(service: DocumentService): Omit<ServiceImpl<typeof DocumentIngestService>, 'getInfo'> {
  return {
    async uploadDocument(requests, ctx) {
      const p = principalFrom(ctx);
      const iterator = requests[Symbol.asyncIterator]();
      try {
        const first = await iterator.next();
        if (first.done || first.value.part.case !== 'metadata') throw new ValidationError('The first message must be the metadata', { metadata: 'required in the first message' });
        const m = first.value.part.value;
        const result = await service.upload(
          p,
          { filename: m.filename, title: m.title, tags: m.tags, isPublic: m.isPublic, sharedWithRoles: m.sharedWithRoles, allowDuplicate: m.allowDuplicate },
          chunksOf(iterator),
        );
        return { document: documentToProto(result.document), duplicate: result.duplicate };
      } finally {
        // A refused upload stops reading its request: close it, or its unread bytes hold the HTTP/2 connection's flow-control window and later calls on that connection stall.
        await iterator.return?.();
      }
    },
    async getDocument(req, ctx) {
      return { document: documentToProto(await service.get(principalFrom(ctx), req.id)) };
    },
    async listDocuments(req, ctx) {
      const page = await service.list(principalFrom(ctx), { limit: req.limit, offset: req.offset, status: req.status, tags: req.tags, ownerId: req.ownerId });
      return { items: page.items.map(documentToProto), total: BigInt(page.total) };
    },
    async updateDocument(req, ctx) {
      const doc = await service.update(principalFrom(ctx), req.id, {
        ...(req.title !== undefined ? { title: req.title } : {}),
        ...(req.tags ? { tags: req.tags.values } : {}),
        ...(req.isPublic !== undefined ? { isPublic: req.isPublic } : {}),
        ...(req.sharedWithRoles ? { sharedWithRoles: req.sharedWithRoles.values } : {}),
      });
      return { document: documentToProto(doc) };
    },
    async deleteDocument(req, ctx) {
      await service.remove(principalFrom(ctx), req.id);
      return {};
    },
    async getDocumentStatus(req, ctx) {
      const doc = await service.get(principalFrom(ctx), req.id);
      return { documentId: doc.id, status: statusToProto(doc) };
    },
    async reindexDocument(req, ctx) {
      const options = { idempotencyKey: req.idempotencyKey, scheduleId: req.scheduleId, scheduleRunId: req.scheduleRunId };
      return { document: documentToProto(await service.reindex(principalFrom(ctx), req.id, options)) };
    },
    async *getDocumentContent(req, ctx) {
      // A streaming response runs after the interceptors returned: errors get the CSDA ErrorDetail here, internals hidden.
      try {
        const { document, bytes } = await service.content(principalFrom(ctx), req.id);
        yield { part: { case: 'header', value: { filename: document.filename, mimeType: document.mimeType, sizeBytes: BigInt(document.sizeBytes), sha256: document.sha256 } } };
        for await (const piece of bytes) {
          ctx.signal.throwIfAborted();
          for (let at = 0; at < piece.byteLength; at += CONTENT_CHUNK) yield { part: { case: 'chunk', value: piece.subarray(at, at + CONTENT_CHUNK) } };
        }
      } catch (err) {
        throw toConnectError(err, false);
      }
    },
  };
}
