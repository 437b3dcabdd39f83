import { createHash, randomUUID } from 'node:crypto';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import type { HandlerContext } from '@connectrpc/connect';
import { hasPermission, principalFrom, type Principal } from '@csda/auth';
import { AppError, AuthorizationError, NotFoundError, ValidationError, toConnectError } from '@csda/errors';
import { DocumentIngestService, DocumentSchema, DocumentStatusSchema, type Document, type UploadDocumentRequest, type UploadMetadata } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import { createServiceClient } from '@csda/service-kit';
import { client } from './identity-harness.ts';
import { gatewaySigner, startLocalBackend } from './local-backend.ts';
import { buildOfflineApp, offlineUserToken } from './offline-app.ts';

export const ALICE = '1a2b3c4d-0000-4000-8000-00000000000a';
export const BOB = '2b3c4d5e-0000-4000-8000-00000000000b';
export const T0 = Date.UTC(2026, 11, 9, 12, 0, 0);
export const MiB = 1024 * 1024;

/** One UploadDocument call as the fake saw it. */
export interface UploadSeen {
  metadata: UploadMetadata;
  principal: Principal;
  bytes: number;
  chunks: number;
  /** streaming while it runs; then stored, duplicate, refused (the fake threw) or cancelled (the gateway called it off). */
  outcome: 'streaming' | 'stored' | 'duplicate' | 'refused' | 'cancelled';
  /** Bytes received when each chunk arrived, with the time (performance.now()). */
  arrivals: { at: number; bytes: number }[];
}

export interface FakeIngestState {
  /** Runs after each chunk; may wait (backpressure) or throw (a refusal mid-stream). */
  onChunk?: (upload: UploadSeen) => Promise<void> | void;
  /** The service's own DOCUMENT_MAX_BYTES. */
  maxBytes: number;
  /** The content of each stored document, for GetDocumentContent (uploads up to 1 MiB are kept). */
  contents: Map<string, Buffer>;
  docs: Map<string, Document>;
}

type DocInit = Omit<MessageInitShape<typeof DocumentSchema>, '$typeName'>;

export const document = (over: DocInit = {}) =>
  create(DocumentSchema, {
    id: randomUUID(),
    ownerId: ALICE,
    title: 'Scurvy',
    tags: ['health'],
    isPublic: false,
    sharedWithRoles: [],
    filename: 'scurvy.txt',
    format: 'txt',
    mimeType: 'text/plain; charset=utf-8',
    sizeBytes: 5n,
    sha256: createHash('sha256').update('hello').digest('hex'),
    status: { status: 'queued', version: 1, updatedAtMs: BigInt(T0) },
    createdAtMs: BigInt(T0),
    updatedAtMs: BigInt(T0),
    accessSeq: 1n,
    ...over,
  });

const fail = (err: AppError) => toConnectError(err, false);

/** What the fake's "bytes" are: enough sniffing to refuse like document-ingest does (VALIDATION_ERROR naming what was found). */
function sniff(filename: string, head: Buffer) {
  const ext = filename.slice(filename.lastIndexOf('.')).toLowerCase();
  if (head.length === 0) throw fail(new AppError('VALIDATION_ERROR', 'the file is empty (0 bytes)', { details: { field: 'file', reason: 'empty', found: 'nothing', extension: ext } }));
  const png = head.subarray(0, 4).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
  if (png) throw fail(new AppError('VALIDATION_ERROR', `the file is a PNG image but its name ends in ${ext}`, { details: { field: 'file', reason: ext === '.png' ? 'unsupported' : 'mismatch', found: 'a PNG image', extension: ext } }));
  if (ext === '.pdf' && !head.subarray(0, 5).equals(Buffer.from('%PDF-'))) {
    throw fail(new AppError('VALIDATION_ERROR', 'the file is plain text but its name ends in .pdf', { details: { field: 'file', reason: 'mismatch', found: 'plain text', extension: ext } }));
  }
}

const visible = (p: Principal, d: Document) =>
  d.ownerId === p.id || d.isPublic || d.sharedWithRoles.some((r) => p.roles.includes(r)) || hasPermission(p, 'documents:admin');
const writable = (p: Principal, d: Document) => d.ownerId === p.id || hasPermission(p, 'documents:admin');

/**
 * The gateway's documents routes against a local DocumentIngestService
 * speaking the real protocol (Connect over h2c, internal tokens verified
 * with the gateway's key), standing in for apps/document-ingest: it reads
 * UploadDocument as a stream and records how the bytes arrived, keeps
 * documents in memory with the service's visibility rule (not yours, not
 * public, not shared with your roles = NOT_FOUND) and records every call.
 */
export function fakeDocumentIngest() {
  const seen: { method: string; req: unknown; principal: Principal }[] = [];
  const uploads: UploadSeen[] = [];
  /** How each GetDocumentContent stream ended: bytes sent, and whether the caller cancelled it. */
  const contentReads: { id: string; sent: number; aborted: boolean }[] = [];
  const state: FakeIngestState = { maxBytes: 64 * MiB, contents: new Map(), docs: new Map() };

  const record = (method: string, req: unknown, ctx: HandlerContext) => {
    const principal = principalFrom(ctx);
    seen.push({ method, req, principal });
    return principal;
  };
  const find = (p: Principal, id: string, can = visible) => {
    const d = state.docs.get(id);
    if (!d || !can(p, d)) throw fail(new NotFoundError('document', id));
    return d;
  };

  async function uploadDocument(requests: AsyncIterable<UploadDocumentRequest>, ctx: HandlerContext) {
    const principal = record('uploadDocument', undefined, ctx);
    const it = requests[Symbol.asyncIterator]();
    const first = await it.next();
    if (first.done || first.value.part.case !== 'metadata') throw fail(new ValidationError('The first message must be the metadata', { metadata: 'required' }));
    const upload: UploadSeen = { metadata: first.value.part.value, principal, bytes: 0, chunks: 0, outcome: 'streaming', arrivals: [] };
    uploads.push(upload);
    const hash = createHash('sha256');
    const kept: Buffer[] = [];
    try {
      for (;;) {
        const next = await it.next();
        // As document-ingest: a stream that stops without its end message was called off, nothing is stored.
        if (next.done) {
          upload.outcome = 'cancelled';
          throw fail(new ValidationError('The upload ended without its end message: it was cancelled, nothing was stored', { end: 'required after the last chunk' }));
        }
        if (next.value.part.case === 'end') break;
        if (next.value.part.case === 'metadata') throw fail(new ValidationError('The metadata comes once, in the first message', { metadata: 'only in the first message' }));
        if (next.value.part.case !== 'chunk') continue;
        const chunk = Buffer.from(next.value.part.value);
        if (upload.bytes === 0) sniff(upload.metadata.filename, chunk);
        upload.bytes += chunk.length;
        upload.chunks++;
        upload.arrivals.push({ at: performance.now(), bytes: upload.bytes });
        if (upload.bytes > state.maxBytes) throw fail(new AppError('PAYLOAD_TOO_LARGE', 'The document is larger than the service limit', { details: { field: 'file' } }));
        hash.update(chunk);
        if (upload.bytes <= MiB) kept.push(chunk);
        await state.onChunk?.(upload);
      }
      if (upload.bytes === 0) sniff(upload.metadata.filename, Buffer.alloc(0));
    } catch (err) {
      if (upload.outcome === 'streaming') upload.outcome = ctx.signal.aborted ? 'cancelled' : 'refused';
      // As document-ingest does: unread request bytes would hold the HTTP/2 connection's flow-control window.
      await it.return?.();
      throw err;
    }
    const sha256 = hash.digest('hex');
    const same = [...state.docs.values()].find((d) => d.ownerId === principal.id && d.sha256 === sha256);
    if (same && !upload.metadata.allowDuplicate) {
      upload.outcome = 'duplicate';
      return { document: same, duplicate: true };
    }
    const m = upload.metadata;
    const doc = document({
      ownerId: principal.id,
      title: m.title || m.filename.replace(/\.[^.]*$/, ''),
      tags: m.tags,
      isPublic: m.isPublic,
      sharedWithRoles: m.sharedWithRoles,
      filename: m.filename,
      format: m.filename.split('.').at(-1) ?? '',
      mimeType: m.filename.endsWith('.pdf') ? 'application/pdf' : 'text/plain; charset=utf-8',
      sizeBytes: BigInt(upload.bytes),
      sha256,
    });
    state.docs.set(doc.id, doc);
    if (upload.bytes <= MiB) state.contents.set(doc.id, Buffer.concat(kept));
    upload.outcome = 'stored';
    return { document: doc, duplicate: false };
  }

  const start = async () => {
    const { signer, publicKeyOf } = gatewaySigner();
    const backend = await startLocalBackend(DocumentIngestService, 'document-ingest', publicKeyOf(), {
      uploadDocument,
      getDocument: (req, ctx) => ({ document: find(record('getDocument', req, ctx), req.id) }),
      listDocuments: (req, ctx) => {
        const p = record('listDocuments', req, ctx);
        if (req.ownerId && !hasPermission(p, 'documents:admin')) throw fail(new AuthorizationError('Filtering by owner requires documents:admin'));
        const all = [...state.docs.values()].filter(
          (d) => visible(p, d) && (!req.status || d.status?.status === req.status) && req.tags.every((t) => d.tags.includes(t)) && (!req.ownerId || d.ownerId === req.ownerId),
        );
        return { items: all.slice(req.offset, req.offset + (req.limit || 50)), total: BigInt(all.length) };
      },
      updateDocument: (req, ctx) => {
        const d = find(record('updateDocument', req, ctx), req.id, writable);
        const next = document({
          ...d,
          title: req.title ?? d.title,
          tags: req.tags ? req.tags.values : d.tags,
          isPublic: req.isPublic ?? d.isPublic,
          sharedWithRoles: req.sharedWithRoles ? req.sharedWithRoles.values : d.sharedWithRoles,
          accessSeq: d.accessSeq + 1n,
        });
        state.docs.set(d.id, next);
        return { document: next };
      },
      deleteDocument: (req, ctx) => {
        const d = find(record('deleteDocument', req, ctx), req.id, writable);
        state.docs.delete(d.id);
        state.contents.delete(d.id);
        return {};
      },
      getDocumentStatus: (req, ctx) => {
        const d = find(record('getDocumentStatus', req, ctx), req.id);
        return { documentId: d.id, status: d.status };
      },
      reindexDocument: (req, ctx) => {
        const d = find(record('reindexDocument', req, ctx), req.id, writable);
        const next = document({ ...d, status: create(DocumentStatusSchema, { status: 'queued', version: (d.status?.version ?? 1) + 1, indexedVersion: d.status?.indexedVersion, updatedAtMs: BigInt(T0 + 60_000) }) });
        state.docs.set(d.id, next);
        return { document: next };
      },
      async *getDocumentContent(req, ctx) {
        const p = record('getDocumentContent', req, ctx);
        const d = find(p, req.id, (who, doc) => doc.ownerId === who.id);
        const bytes = state.contents.get(d.id) ?? Buffer.alloc(0);
        yield { part: { case: 'header', value: { filename: d.filename, mimeType: d.mimeType, sizeBytes: d.sizeBytes, sha256: d.sha256 } } };
        let sent = 0;
        try {
          for (; sent < bytes.length; sent += 64 * 1024) yield { part: { case: 'chunk', value: bytes.subarray(sent, sent + 64 * 1024) } };
        } finally {
          contentReads.push({ id: d.id, sent: Math.min(sent, bytes.length), aborted: ctx.signal.aborted });
        }
      },
    });
    const documents = createServiceClient(DocumentIngestService, backend.url);
    return { signer, backend, documents };
  };

  return {
    seen,
    uploads,
    contentReads,
    state,
    start,
    calls: () => seen.map((s) => s.method),
    /** Waits for `count` uploads, none streaming any more (a refused upload's RPC ends after the gateway answered). */
    async settled(count: number, timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs;
      while (uploads.length < count || uploads.some((u) => u.outcome === 'streaming')) {
        if (Date.now() > until) throw new Error('an upload is still streaming into the fake');
        await new Promise((r) => setTimeout(r, 10));
      }
      return uploads.map((u) => u.outcome);
    },
    reset() {
      seen.length = 0;
      uploads.length = 0;
      contentReads.length = 0;
      Object.assign(state, { onChunk: undefined, maxBytes: 64 * MiB, contents: new Map(), docs: new Map() } satisfies FakeIngestState);
    },
  };
}

/** The fake behind an offline gateway app (inject), with tokens for alice and bob. */
export async function startDocumentsApp(fake: ReturnType<typeof fakeDocumentIngest>, limits = { maxBytes: 48 * MiB, timeoutMs: 60_000, perUser: 2 }) {
  const { signer, backend, documents } = await fake.start();
  const { app } = await buildOfflineApp({ signer, documents, documentLimits: limits });
  const alice = await offlineUserToken({ id: ALICE, username: 'alice', roles: ['USER', 'ANALYST'] });
  const bob = await offlineUserToken({ id: BOB, username: 'bob' });
  return {
    app,
    api: client(app),
    alice,
    bob,
    async close() {
      await app.close();
      await backend.close();
    },
  };
}
