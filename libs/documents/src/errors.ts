import { AppError } from '@csda/errors';
import type { ParseFailure, ParseFailureKind } from './parse-failure.ts';
import type { DocumentFormat } from './types.ts';

export type { ParseFailureKind } from './parse-failure.ts';

/** Why a file was refused before parsing. */
export type UnsupportedReason = 'empty' | 'unsupported' | 'mismatch';

/**
 * The file's bytes and name do not make a supported document: nothing in it
 * (`empty`), a type we do not take (`unsupported`), or bytes of one type under
 * another type's extension (`mismatch`). VALIDATION_ERROR on field `file`;
 * the message names what was found ("the file is a PDF but its name ends in .docx").
 */
export class UnsupportedDocumentError extends AppError {
  readonly reason: UnsupportedReason;
  /** What the bytes are, in words ("a PDF", "a PNG image", "binary data"). */
  readonly found: string;
  /** The name's extension, lower case with the dot, or '' when it has none. */
  readonly extension: string;

  constructor(reason: UnsupportedReason, message: string, found: string, extension: string) {
    super('VALIDATION_ERROR', message, { details: { field: 'file', reason, found, extension } });
    this.reason = reason;
    this.found = found;
    this.extension = extension;
  }
}

/**
 * A document that failed to parse, with a readable reason fit for the
 * document's status ("PDF is encrypted with a user password", "no text layer:
 * the PDF is scanned images", "DOCX expands beyond the 200 MiB limit",
 * "parsing took longer than 60 s"). VALIDATION_ERROR: the file is what is
 * wrong, except `crashed`, which is INTERNAL_ERROR and worth a retry.
 */
export class DocumentParseError extends AppError {
  readonly kind: ParseFailureKind;
  readonly format: DocumentFormat;

  constructor(kind: ParseFailureKind, format: DocumentFormat, message: string, options: { cause?: unknown } = {}) {
    super(kind === 'crashed' ? 'INTERNAL_ERROR' : 'VALIDATION_ERROR', message, { details: { field: 'file', kind, format }, cause: options.cause });
    this.kind = kind;
    this.format = format;
  }

  /** The parser's failure (thrown where AppError is not loaded) as the error callers get. */
  static from(failure: ParseFailure): DocumentParseError {
    return new DocumentParseError(failure.kind, failure.format, failure.message, { cause: failure.cause });
  }

  /** True when running the same file again may succeed (a crashed worker, not a bad file). */
  get retryable(): boolean {
    return this.kind === 'crashed';
  }
}
