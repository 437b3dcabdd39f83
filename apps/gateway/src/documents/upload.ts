import type { CallOptions, Client } from '@connectrpc/connect';
import { AppError } from '@csda/errors';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { DocumentIngestService, UploadDocumentRequestSchema, UploadDocumentResponse } from '@csda/proto/csda/ingest/v1/ingest_pb.js';
import type { FastifyRequest } from 'fastify';
import type { MultipartFile } from '@fastify/multipart';
import { multipartError, readUploadForm, type UploadForm } from './upload-form.ts';

export interface UploadLimits {
  /** DOCUMENT_MAX_BYTES: a file passing it is refused while it streams (413). */
  readonly maxBytes: number;
  /** DOCUMENT_TRANSFER_TIMEOUT_S: an upload (its form fields and file) not received by then is called off (422); also a download's deadline. */
  readonly timeoutMs: number;
  /** Uploads one user may stream through this gateway replica at once (429 beyond). */
  readonly perUser: number;
}

const mib = (bytes: number) => (bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`);

/** The document passed DOCUMENT_MAX_BYTES while it streamed (the same envelope document-ingest sends for its limit). */
export const uploadTooLarge = (limitBytes: number) =>
  new AppError('PAYLOAD_TOO_LARGE', `The document is larger than the ${mib(limitBytes)} limit`, { details: { field: 'file', limit_bytes: String(limitBytes) } });

/** Per-user count of uploads in flight on this replica. */
export function createUploadSlots(perUser: number) {
  const inFlight = new Map<string, number>();
  return {
    /** Takes a slot or throws RATE_LIMITED; the caller releases it when the upload ends. */
    acquire(userId: string): () => void {
      const n = inFlight.get(userId) ?? 0;
      if (n >= perUser) {
        throw new AppError('RATE_LIMITED', `You have ${n} uploads in flight; wait for one to finish`, { details: { retry_after_s: '5', limit: String(perUser), setting: 'DOCUMENT_UPLOADS_PER_USER' } });
      }
      inFlight.set(userId, n + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (inFlight.get(userId) ?? 1) - 1;
        if (left === 0) inFlight.delete(userId);
        else inFlight.set(userId, left);
      };
    },
  };
}

export type UploadSlots = ReturnType<typeof createUploadSlots>;

type UploadMessage = MessageInitShape<typeof UploadDocumentRequestSchema>;

/**
 * How an upload ends. A Node HTTP/2 server reads a client's RST_STREAM as
 * the normal end of the request stream (the handler's signal aborts only
 * later), so a stream's end alone cannot tell a whole file from a cut-off
 * one: UploadDocument stores an upload only once its `end` message arrived
 * (UploadEnd, sent after the last chunk) and refuses a stream that stops
 * without it. Calling an upload off is therefore ending the stream without
 * `end`; the RPC is cancelled after CANCEL_GRACE_MS if the service has not
 * failed it by then.
 */
const END: UploadMessage = { part: { case: 'end', value: {} } };
const CANCEL_GRACE_MS = 10_000;

/**
 * POST /api/v1/documents: the multipart body streamed into UploadDocument
 * as it arrives. The file's bytes go out as they are read; the RPC's flow
 * control is the only buffer (a write waits for the last, so the multipart
 * stream, and with it the client's socket, pauses when document-ingest does).
 * Passing `maxBytes` answers 413 at once; that and anything else that ends
 * the upload early (a part after the file, the client leaving) calls the
 * RPC off (the stream ends without END), so nothing half-read is ever
 * stored; a whole file is followed by END. The
 * per-user slot and the transfer deadline hold from before the form is
 * read; a refusal while it is read answers before any RPC starts.
 */
export async function streamUpload(
  request: FastifyRequest,
  deps: { documents: Client<typeof DocumentIngestService>; limits: UploadLimits; slots: UploadSlots; callOptions: (r: FastifyRequest) => Promise<CallOptions> },
  allowDuplicate: boolean,
): Promise<UploadDocumentResponse> {
  const { maxBytes, timeoutMs } = deps.limits;
  // The slot and the deadline cover the whole body from its first byte: a client trickling its form fields holds a slot of its own, and not for long.
  const release = deps.slots.acquire(request.principal!.id);
  const controller = new AbortController();
  let file: MultipartFile['file'] | undefined;
  let refusal: unknown;
  let reject!: (err: unknown) => void;
  const refused = new Promise<never>((_, r) => (reject = r));
  refused.catch(() => undefined);
  const refuse = (err: unknown) => {
    if (refusal !== undefined) return;
    refusal = err;
    reject(err);
    setTimeout(() => controller.abort(err), CANCEL_GRACE_MS).unref();
  };
  // Once the file has begun, every way the upload ends early goes through its stream, so the generator below ends without END.
  const stop = (err: AppError) => {
    refuse(err);
    file?.destroy(err);
  };
  const onClose = () => {
    // (`complete` is Node's; inject's requests only end.)
    const raw = request.raw as { complete?: boolean; readableEnded: boolean };
    if (!(raw.complete ?? raw.readableEnded)) stop(new AppError('VALIDATION_ERROR', 'The client closed the upload before it ended', { details: { body: 'incomplete' } }));
  };
  request.raw.once('close', onClose);
  // Our own deadline, not the RPC's, so the answer names DOCUMENT_TRANSFER_TIMEOUT_S; the stream then ends without END.
  const seconds = Math.round(timeoutMs / 1_000);
  const deadline = setTimeout(() => {
    const [field, what] = file ? ['file', 'not received'] : ['form', 'fields not received'];
    stop(new AppError('VALIDATION_ERROR', `The upload did not finish within ${seconds} s`, { details: { [field]: `${what} within ${seconds} s (DOCUMENT_TRANSFER_TIMEOUT_S)` } }));
  }, timeoutMs);
  const settle = () => {
    clearTimeout(deadline);
    request.raw.off('close', onClose);
    release();
  };

  let form: UploadForm;
  try {
    const reading = readUploadForm(request);
    // Refused while the form is read: the read ends (unhandled here) when the answer closes the connection.
    reading.catch(() => undefined);
    form = await Promise.race([reading, refused]);
  } catch (err) {
    settle();
    throw refusal ?? err;
  }
  const stream = (file = form.part.file);
  if (refusal !== undefined) {
    // Refused in the same turn as the form was read: nothing was sent yet.
    stream.destroy();
    settle();
    throw refusal;
  }
  stream.once('limit', () => stop(uploadTooLarge(maxBytes)));

  async function* messages(): AsyncGenerator<UploadMessage> {
    const { fields } = form;
    yield {
      part: {
        case: 'metadata',
        value: { filename: form.part.filename, title: fields.title ?? '', tags: fields.tags, isPublic: fields.is_public, sharedWithRoles: fields.shared_with_roles, allowDuplicate },
      },
    };
    try {
      for await (const chunk of stream) yield { part: { case: 'chunk', value: chunk as Buffer } };
      await form.end();
      // Refused after the last byte (the deadline while the body's end was awaited): never send END.
      if (refusal !== undefined) throw refusal;
    } catch (err) {
      refuse(multipartError(err));
      return;
    }
    yield END;
  }

  const call = deps
    .callOptions(request)
    .then((options) => deps.documents.uploadDocument(messages(), { ...options, signal: controller.signal, timeoutMs: deps.limits.timeoutMs + CANCEL_GRACE_MS }));
  // A refused upload is answered at once; its RPC ends on its own (refused for want of END) and only then frees the slot.
  void call
    .finally(() => {
      settle();
      // The service answered before the file ended (an unsupported type, say): stop reading it.
      if (!stream.readableEnded) stream.destroy();
    })
    .catch(() => undefined);
  try {
    return await Promise.race([call, refused]);
  } catch (err) {
    // Our own reason beats what the RPC reports for it (the refusal of a stream without END, or Canceled).
    throw refusal ?? err;
  }
}
