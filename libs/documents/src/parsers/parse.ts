import { readFile } from 'node:fs/promises';
import { ParseFailure } from '../parse-failure.ts';
import { DEFAULT_PARSE_LIMITS, type DocumentFormat, type ParseLimits, type ParseProgress, type ParsedDocument } from '../types.ts';
import type { ParseSource } from './source.ts';

export type { ParseSource } from './source.ts';

export interface ParseDocumentOptions {
  limits?: Partial<ParseLimits>;
  onProgress?: (progress: ParseProgress) => void;
}

const NAMES: Readonly<Record<DocumentFormat, string>> = { pdf: 'PDF', docx: 'DOCX', html: 'HTML page', md: 'Markdown file', txt: 'text file', csv: 'CSV file' };

function hasText(doc: ParsedDocument): boolean {
  return doc.blocks.some((b) => (b.type === 'table' ? b.rows.some((r) => r.some((c) => c.trim() !== '')) : 'text' in b && b.text.trim() !== ''));
}

/**
 * Parses a document of a known format in this thread: what the parse worker
 * runs (parse-worker.ts), and `parseDocument` (index.ts) in-thread.
 *
 * Throws `ParseFailure` with a readable reason; a document with no text
 * at all fails with kind `no_text`.
 */
export async function parseSource(source: ParseSource, format: DocumentFormat, options: ParseDocumentOptions = {}): Promise<ParsedDocument> {
  const limits: ParseLimits = { ...DEFAULT_PARSE_LIMITS, ...options.limits };
  // each parser is imported on first use: a worker parsing a DOCX never loads pdf.js
  if (format === 'csv') return requireText(await (await import('./csv.ts')).parseCsv(source, limits));
  const raw = source.bytes ?? (await readFile(source.path));
  // pdf.js refuses Buffer instances: a plain Uint8Array view of the same memory
  const bytes = Buffer.isBuffer(raw) ? new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) : raw;
  if (bytes.length === 0) throw new ParseFailure('no_text', format, 'the file is empty (0 bytes)');
  let doc: ParsedDocument;
  try {
    doc = await parseBytes(bytes, format, limits, options);
  } catch (err) {
    // the depth pre-checks catch the common shapes; anything else that recurses past the stack is the file's doing too
    if (err instanceof RangeError && /call stack/i.test(err.message)) throw new ParseFailure('malformed', format, `the ${NAMES[format]} is nested too deeply to parse`, { cause: err });
    throw err;
  }
  return requireText(doc, limits);
}

async function parseBytes(bytes: Uint8Array, format: Exclude<DocumentFormat, 'csv'>, limits: ParseLimits, options: ParseDocumentOptions): Promise<ParsedDocument> {
  switch (format) {
    case 'pdf':
      return (await import('./pdf.ts')).parsePdf(bytes, limits, options.onProgress);
    case 'docx':
      return (await import('./docx.ts')).parseDocx(bytes, limits);
    case 'html':
      return (await import('./html.ts')).parseHtml(bytes);
    case 'md':
      return (await import('./markdown.ts')).parseMarkdown(bytes);
    case 'txt':
      return (await import('./text.ts')).parseText(bytes);
  }
}

function requireText(doc: ParsedDocument, limits?: ParseLimits): ParsedDocument {
  if (!hasText(doc)) throw new ParseFailure('no_text', doc.format, `the ${NAMES[doc.format]} has no text`);
  if (limits && doc.format !== 'pdf') {
    let chars = 0;
    for (const b of doc.blocks) chars += b.type === 'table' ? b.rows.reduce((s, r) => s + r.join(' ').length, 0) : 'text' in b ? b.text.length : 0;
    if (chars > limits.maxTextChars) throw new ParseFailure('too_large', doc.format, `the document's text is longer than ${limits.maxTextChars.toLocaleString('en-US')} characters`);
  }
  return doc;
}
