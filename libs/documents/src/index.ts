/**
 * @csda/documents — turning uploaded files into text and chunks.
 *
 *   const format = await detectFormat(firstBytes, fileName);      // UnsupportedDocumentError (422, names what was found)
 *   const doc = await parseInWorker(bytesOrPath, { format, onProgress });  // DocumentParseError with a readable reason
 *   const chunks = chunkDocument(doc, { documentId, version });   // ~256-token chunks, heading path, page range, stable ids
 *
 * Parsers run only inside the worker (pdf.js and mammoth work synchronously
 * and hostile files can exhaust memory or spin); `parseDocument` from
 * `@csda/documents/parsers` runs one in the current thread, for tests and tools.
 */
export { DOCUMENT_FORMATS, DEFAULT_PARSE_LIMITS, type Block, type DocumentFormat, type ParseLimits, type ParseProgress, type ParsedDocument } from './types.ts';
export { UnsupportedDocumentError, DocumentParseError, type UnsupportedReason, type ParseFailureKind } from './errors.ts';
export { detectFormat, formatFromName, SNIFF_BYTES } from './detect.ts';
export { decodeText, detectEncoding, type DecodedText } from './text-decode.ts';
export { parseInWorker, type ParseInWorkerOptions } from './worker/parse-in-worker.ts';
export { createDocumentParser, type DocumentParser, type DocumentParserOptions } from './worker/document-parser.ts';
export type { ParseRequestOptions, WorkerLimits } from './worker/supervise.ts';
export { blocksToText } from './blocks.ts';
export { chunkDocument, DEFAULT_CHUNK_TOKENS, DEFAULT_OVERLAP_TOKENS, CHUNK_ID_NAMESPACE, type Chunk, type ChunkOptions } from './chunk/chunker.ts';
export { countTokens } from './chunk/tokens.ts';
