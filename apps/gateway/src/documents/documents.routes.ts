import type { Client } from '@connectrpc/connect';
import type { Permission } from '@csda/auth';
import type { DocumentIngestService } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import multipart from '@fastify/multipart';
import type { FastifySchemaCompiler, onSendAsyncHookHandler, preHandlerAsyncHookHandler } from 'fastify';
import { validatorCompiler, type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { itemGen } from '../cache/families.ts';
import { uncached, type Cached } from '../cache/response-cache.ts';
import { backendCallOptions, type PrincipalSigner } from '../http/backend-call.ts';
import { bearerAuth, errorEnvelopeSchema, idParams, pageOf, protectedErrorResponses } from '../http/schemas.ts';
import { sendContent } from './content.ts';
import {
  documentSchema,
  documentStatusResponse,
  documentToJson,
  listDocumentsQuery,
  statusToJson,
  updateDocumentBody,
  updateRequestFromBody,
  uploadForm,
  uploadQuery,
} from './documents.schemas.ts';
import { uploadFormOptions } from './upload-form.ts';
import { createUploadSlots, streamUpload, type UploadLimits } from './upload.ts';

export interface DocumentRouteDeps {
  readonly documents: Client<typeof DocumentIngestService>;
  readonly signer: PrincipalSigner;
  /** preHandler that authenticates the caller and requires `permission`. */
  readonly authorize: (permission: Permission) => preHandlerAsyncHookHandler;
  /** DOCUMENT_MAX_BYTES, DOCUMENT_TRANSFER_TIMEOUT_S, DOCUMENT_UPLOADS_PER_USER. */
  readonly limits: UploadLimits;
  /** Wraps the cached reads (list, detail); default: no cache. */
  readonly cached?: Cached;
}

const errors = { 404: errorEnvelopeSchema, ...protectedErrorResponses };
const uploadErrors = { ...protectedErrorResponses, 413: errorEnvelopeSchema, 429: errorEnvelopeSchema };

/** The upload's body is a stream the handler reads (and validates) itself; the other parts go through zod as everywhere. */
function streamedBody<T>(route: Parameters<FastifySchemaCompiler<T>>[0]): ReturnType<FastifySchemaCompiler<T>> {
  if (route.httpPart === 'body') return (data: unknown) => ({ value: data });
  return validatorCompiler(route as unknown as Parameters<FastifySchemaCompiler<z.ZodType>>[0]);
}

/**
 * An upload answered before its body was read to the end (a refusal, 413
 * mid-stream, 401) closes the connection: the rest is never read, and the
 * client stops sending. (`complete` is Node's; inject's requests only end.)
 */
const closeUnlessRead: onSendAsyncHookHandler = async (request, reply) => {
  const raw = request.raw as { complete?: boolean; readableEnded: boolean };
  if (!(raw.complete ?? raw.readableEnded)) void reply.header('connection', 'close');
};

const binary = (description: string) => ({ description, content: { 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) } } });

/**
 * `/api/v1/documents…`: REST ↔ DocumentIngestService, as the caller.
 * document-ingest decides visibility: what is not yours (nor public, nor
 * shared with one of your roles) is NOT_FOUND, and only your own documents
 * change. Multipart is parsed in this scope only.
 */
export function documentRoutes(deps: DocumentRouteDeps): FastifyPluginAsyncZod {
  const callOptions = backendCallOptions(deps.signer, 'document-ingest');
  const slots = createUploadSlots(deps.limits.perUser);
  const tags = ['documents'];
  const read = deps.authorize('documents:read');
  const write = deps.authorize('documents:write');
  const cached = deps.cached ?? uncached;

  return async (app) => {
    await app.register(multipart, uploadFormOptions(deps.limits.maxBytes));
    // Any other body type reaches the handlers unread (they answer 422 naming the content type).
    app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

    app.post(
      '',
      {
        preHandler: write,
        validatorCompiler: streamedBody,
        onSend: closeUnlessRead,
        schema: {
          tags,
          security: bearerAuth,
          summary:
            'Upload a document (multipart/form-data: title, tags, is_public, shared_with_roles, then file). The file streams to document-ingest as it arrives. ' +
            '202: a new document, queued for parse → chunk → embed → index (poll GET /api/v1/documents/{id}/status). 200: you already uploaded identical content (that document; ?duplicate=allow stores it again). ' +
            '413 as soon as the file passes DOCUMENT_MAX_BYTES (the connection closes); 422 naming the field as soon as it arrives (also past 8 KiB a field, 32 KiB of fields in all, 102 fields), ' +
            'or the type found when it is unsupported or disagrees with the extension, or when the upload, its fields included, is not received within DOCUMENT_TRANSFER_TIMEOUT_S; ' +
            '429 when your uploads in flight, counted from their first byte, reach DOCUMENT_UPLOADS_PER_USER.',
          consumes: ['multipart/form-data'],
          body: uploadForm,
          querystring: uploadQuery,
          response: { 200: documentSchema, 202: documentSchema, ...uploadErrors },
        },
      },
      async (request, reply) => {
        const res = await streamUpload(request, { documents: deps.documents, limits: deps.limits, slots, callOptions }, request.query.duplicate === 'allow');
        const document = documentToJson(res.document!);
        return reply
          .status(res.duplicate ? 200 : 202)
          .header('location', `/api/v1/documents/${document.id}`)
          .send(document);
      },
    );

    app.get(
      '',
      {
        preHandler: read,
        schema: {
          tags,
          security: bearerAuth,
          summary: 'Documents you can see (yours, public ones, those shared with your roles), newest first; failed ones stay listed with their reason. owner_id needs documents:admin.',
          querystring: listDocumentsQuery,
          response: { 200: pageOf(documentSchema, 'DocumentPage'), ...protectedErrorResponses },
        },
      },
      cached({ family: 'documents' }, async (request) => {
        const q = request.query;
        const res = await deps.documents.listDocuments({ limit: q.limit, offset: q.offset, status: q.status ?? '', tags: q.tags ?? [], ownerId: q.owner_id ?? '' }, await callOptions(request));
        return { items: res.items.map(documentToJson), total: Number(res.total), limit: q.limit, offset: q.offset };
      }),
    );

    app.get(
      '/:id',
      { preHandler: read, schema: { tags, security: bearerAuth, summary: 'One document with its processing status', params: idParams, response: { 200: documentSchema, ...errors } } },
      cached({ family: 'documents', generations: (request) => [itemGen('documents', (request.params as { id: string }).id)] }, async (request) => documentToJson((await deps.documents.getDocument({ id: request.params.id }, await callOptions(request))).document!)),
    );

    app.patch(
      '/:id',
      {
        preHandler: write,
        schema: {
          tags,
          security: bearerAuth,
          summary: 'Change the title, tags, is_public or shared_with_roles of your document (or any, with documents:admin); search applies access changes.',
          params: idParams,
          body: updateDocumentBody,
          response: { 200: documentSchema, ...errors },
        },
      },
      async (request) => documentToJson((await deps.documents.updateDocument(updateRequestFromBody(request.params.id, request.body), await callOptions(request))).document!),
    );

    app.delete(
      '/:id',
      {
        preHandler: write,
        schema: { tags, security: bearerAuth, summary: 'Delete your document: its original, chunks and search entries (audited)', params: idParams, response: { 204: z.null(), ...errors } },
      },
      async (request, reply) => {
        await deps.documents.deleteDocument({ id: request.params.id }, await callOptions(request));
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/:id/status',
      {
        preHandler: read,
        schema: {
          tags,
          security: bearerAuth,
          summary: 'Where the document is: status, stage reached, progress (pages parsed, chunks embedded of total), attempts, per-stage timings and, when failed, why',
          params: idParams,
          response: { 200: documentStatusResponse, ...errors },
        },
      },
      async (request) => {
        const res = await deps.documents.getDocumentStatus({ id: request.params.id }, await callOptions(request));
        return { document_id: res.documentId, ...statusToJson(res.status) };
      },
    );

    app.post(
      '/:id/reindex',
      {
        preHandler: write,
        schema: {
          tags,
          security: bearerAuth,
          summary: 'Run the pipeline again from the stored original as a new version (after a failure, a parser fix or a model change); search serves the previous version until the new one is indexed',
          params: idParams,
          response: { 202: documentSchema, ...errors },
        },
      },
      async (request, reply) => reply.status(202).send(documentToJson((await deps.documents.reindexDocument({ id: request.params.id }, await callOptions(request))).document!)),
    );

    app.get(
      '/:id/content',
      {
        preHandler: read,
        schema: {
          tags,
          security: bearerAuth,
          summary: 'The original file of your own document (as an attachment, with its stored type and name); others get 404 even when they can read the document',
          params: idParams,
          response: { 200: binary('The original bytes; content-type, content-length and content-disposition from the record'), ...errors },
        },
      },
      async (request, reply) => sendContent(request, reply, request.params.id, { documents: deps.documents, callOptions, timeoutMs: deps.limits.timeoutMs }),
    );
  };
}
