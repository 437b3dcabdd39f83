// What a parser throws when a file cannot become text. It imports nothing:
// parsers run in a fresh worker per document, and every module that worker
// loads is paid for on every parse (the AppError behind DocumentParseError
// pulls in Connect and protobuf, ~0.1 s of CPU per worker). The worker posts
// kind and message; the supervisor, and parseDocument in-thread, turn it into
// a DocumentParseError (errors.ts).
import type { DocumentFormat } from './types.ts';

/**
 * Why a document could not be turned into text. The first six come from the
 * parser; the last three from the worker that ran it (see `parseInWorker`).
 */
export type ParseFailureKind =
  | 'encrypted'
  | 'damaged'
  | 'no_text'
  | 'too_large'
  | 'not_a_document'
  | 'malformed'
  | 'out_of_memory'
  | 'timeout'
  | 'crashed';

export class ParseFailure extends Error {
  readonly kind: ParseFailureKind;
  readonly format: DocumentFormat;

  constructor(kind: ParseFailureKind, format: DocumentFormat, message: string, options: { cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'ParseFailure';
    this.kind = kind;
    this.format = format;
  }
}
