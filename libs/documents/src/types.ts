/** The six formats documents can be uploaded in. */
export const DOCUMENT_FORMATS = ['pdf', 'docx', 'html', 'md', 'txt', 'csv'] as const;
export type DocumentFormat = (typeof DOCUMENT_FORMATS)[number];

/**
 * One unit of a parsed document's structure, in reading order. `page` is the
 * 1-based PDF page the block is on (PDF only).
 */
export type Block =
  | { type: 'heading'; level: number; text: string; page?: number }
  | { type: 'paragraph'; text: string; page?: number }
  | { type: 'list_item'; depth: number; text: string; page?: number }
  /** `rows[0]` is the header row when `header` is true. */
  | { type: 'table'; rows: string[][]; header: boolean; page?: number }
  /** Marks the start of page `page` (PDF; emitted before every page's blocks from page 2 on). */
  | { type: 'page_break'; page: number };

/** What every parser returns. */
export interface ParsedDocument {
  format: DocumentFormat;
  /** PDF only: the number of pages. */
  pages?: number;
  blocks: Block[];
  /** The text encoding the bytes were decoded with (txt, md, csv, html). */
  encoding?: string;
  /** Things skipped on the way that did not fail the document (a page that would not parse, …). */
  warnings: string[];
}

/** Limits and knobs for parsing; every field has a default (see `DEFAULT_PARSE_LIMITS`). */
export interface ParseLimits {
  /** DOCX: the total declared uncompressed size of the package's entries. Default 200 MiB. */
  maxUncompressedBytes: number;
  /** DOCX: the number of entries in the package. Default 10,000. */
  maxZipEntries: number;
  /** DOCX: uncompressed/compressed ratio allowed for any entry over 1 MiB. Default 200. */
  maxCompressionRatio: number;
  /** CSV: the longest record, in characters (csv-parse `max_record_size`). Default 1 MiB. */
  maxCsvRecordChars: number;
  /** Every format: the extracted text, in characters, before parsing stops with too_large. Default 256 Mi (a 50 MiB CSV renders to ~140 Mi as "column: value" lines). */
  maxTextChars: number;
}

export const DEFAULT_PARSE_LIMITS: Readonly<ParseLimits> = Object.freeze({
  maxUncompressedBytes: 200 * 1024 * 1024,
  maxZipEntries: 10_000,
  maxCompressionRatio: 200,
  maxCsvRecordChars: 1024 * 1024,
  maxTextChars: 256 * 1024 * 1024,
});

/** Reported while parsing (PDF: after each page). */
export interface ParseProgress {
  pagesParsed: number;
  pagesTotal: number;
}
