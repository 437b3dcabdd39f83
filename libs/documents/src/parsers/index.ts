// `@csda/documents/parsers`: one parse in the calling thread, for tests and tools.
import { DocumentParseError } from '../errors.ts';
import { ParseFailure } from '../parse-failure.ts';
import type { DocumentFormat, ParsedDocument } from '../types.ts';
import { parseSource, type ParseDocumentOptions } from './parse.ts';
import type { ParseSource } from './source.ts';

export type { ParseDocumentOptions } from './parse.ts';
export type { ParseSource } from './source.ts';

/**
 * Parses a document of a known format in this thread. pdf.js and mammoth do
 * their work synchronously on the calling thread and hostile files can make
 * them spin or allocate without bound: services call `parseInWorker`, which
 * runs the same parse in a memory- and time-limited worker.
 *
 * Throws `DocumentParseError` with a readable reason; a document with no text
 * at all fails with kind `no_text`.
 */
export async function parseDocument(source: ParseSource, format: DocumentFormat, options: ParseDocumentOptions = {}): Promise<ParsedDocument> {
  try {
    return await parseSource(source, format, options);
  } catch (err) {
    throw err instanceof ParseFailure ? DocumentParseError.from(err) : err;
  }
}
