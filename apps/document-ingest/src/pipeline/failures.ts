import { DocumentParseError, UnsupportedDocumentError } from '@csda/documents';
import { EmbeddingUnavailableError } from '@csda/embeddings';
import { BlobNotFoundError } from '../blobs/blob-store.ts';

/** The document itself cannot go through this stage: it fails with `message` as its readable reason, no retry. */
export class DocumentFailure extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DocumentFailure';
  }
}

export interface ClassifiedFailure {
  /** True: retrying cannot help (a bad file, a missing original); false: try again (a crashed worker, the database or the model away). */
  readonly permanent: boolean;
  /** Readable, for the document's status; never internals of the database. */
  readonly reason: string;
}

/** What a stage's error means for the document. */
export function classifyFailure(err: unknown): ClassifiedFailure {
  if (err instanceof DocumentFailure) return { permanent: true, reason: err.message };
  if (err instanceof DocumentParseError) return { permanent: !err.retryable, reason: err.message };
  if (err instanceof UnsupportedDocumentError) return { permanent: true, reason: err.message };
  if (err instanceof BlobNotFoundError) return { permanent: true, reason: 'the stored original is missing' };
  if (err instanceof EmbeddingUnavailableError) return { permanent: false, reason: `embedding model unavailable: ${err.message}` };
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return { permanent: false, reason: `database error (${code})` };
  return { permanent: false, reason: err instanceof Error ? err.message.slice(0, 300) : 'stage failed' };
}
