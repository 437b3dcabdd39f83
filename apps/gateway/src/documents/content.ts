import { Readable } from 'node:stream';
import type { CallOptions, Client } from '@connectrpc/connect';
import { AppError } from '@csda/errors';
import type { ContentHeader, DocumentIngestService } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** A media type as `type/subtype` with optional parameters, nothing a header could be split with. */
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}(?:\s*;\s*[a-z0-9!#$&^_.+-]+=(?:[a-z0-9!#$&^_.+-]+|"[^"\\\r\n]*"))*$/i;

export const safeMediaType = (value: string) => (MEDIA_TYPE.test(value) ? value : 'application/octet-stream');

/**
 * `attachment` with the stored file name: an ASCII fallback (quotes,
 * backslashes, controls and non-ASCII replaced) and the exact name as
 * RFC 8187 UTF-8 (`filename*`), so no browser renders the original inline.
 */
export function contentDisposition(filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\%]/g, '_') || 'document';
  const encoded = encodeURIComponent(filename).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

/**
 * GET /api/v1/documents/{id}/content: GetDocumentContent's header becomes
 * the response headers (an error before it is the usual envelope), then the
 * bytes stream out as the client reads them; a client that leaves cancels
 * the RPC. A failure mid-stream can only cut the response short: its
 * content-length then tells the client it is incomplete.
 */
export async function sendContent(
  request: FastifyRequest,
  reply: FastifyReply,
  id: string,
  deps: { documents: Client<typeof DocumentIngestService>; callOptions: (r: FastifyRequest) => Promise<CallOptions>; timeoutMs: number },
): Promise<FastifyReply> {
  const controller = new AbortController();
  const options = await deps.callOptions(request);
  const stream = deps.documents.getDocumentContent({ id }, { ...options, signal: controller.signal, timeoutMs: deps.timeoutMs });
  const parts = stream[Symbol.asyncIterator]();
  let header: ContentHeader;
  try {
    const first = await parts.next();
    if (first.done || first.value.part.case !== 'header') throw new AppError('INTERNAL_ERROR', 'document-ingest sent the content without its header');
    header = first.value.part.value;
  } catch (err) {
    controller.abort();
    throw err;
  }

  async function* bytes(): AsyncGenerator<Uint8Array> {
    for (;;) {
      const next = await parts.next();
      if (next.done) return;
      if (next.value.part.case === 'chunk') yield next.value.part.value;
    }
  }
  const body = Readable.from(bytes(), { objectMode: false });
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  body.once('error', (err) => request.log.warn({ err, document_id: id }, 'document content cut short'));

  return reply
    .header('content-type', safeMediaType(header.mimeType))
    .header('content-length', String(header.sizeBytes))
    .header('content-disposition', contentDisposition(header.filename))
    .header('repr-digest', `sha-256=:${Buffer.from(header.sha256, 'hex').toString('base64')}:`)
    .header('cache-control', 'private, no-store')
    // An HTML or SVG original opened anyway runs nothing and reaches nothing.
    .header('content-security-policy', "default-src 'none'; sandbox")
    .send(body);
}
