import { extname } from 'node:path';
import { fileTypeFromBuffer } from 'file-type';
import { UnsupportedDocumentError } from './errors.ts';
import { binaryShare, decodeText } from './text-decode.ts';
import type { DocumentFormat } from './types.ts';

/** How many leading bytes `detectFormat` needs; more are ignored. */
export const SNIFF_BYTES = 64 * 1024;

const BY_EXTENSION: Readonly<Record<string, DocumentFormat>> = {
  '.pdf': 'pdf',
  '.docx': 'docx',
  '.html': 'html',
  '.htm': 'html',
  '.xhtml': 'html',
  '.md': 'md',
  '.markdown': 'md',
  '.txt': 'txt',
  '.text': 'txt',
  '.csv': 'csv',
};

const FORMAT_WORDS: Readonly<Record<DocumentFormat, string>> = {
  pdf: 'a PDF',
  docx: 'a Word document (DOCX)',
  html: 'an HTML page',
  md: 'Markdown',
  txt: 'plain text',
  csv: 'CSV',
};

/** What file-type found, in words, for the types people upload by mistake. */
const SNIFFED_WORDS: Readonly<Record<string, string>> = {
  zip: 'a ZIP archive',
  cfb: 'a legacy or password-protected Office file (OLE compound document)',
  xml: 'an XML document',
  rtf: 'an RTF document',
  epub: 'an EPUB book',
  odt: 'an OpenDocument text',
  xlsx: 'an Excel workbook (XLSX)',
  pptx: 'a PowerPoint presentation (PPTX)',
  gz: 'a gzip archive',
};

const SUPPORTED = 'supported types are PDF, DOCX, HTML, Markdown, TXT and CSV';
const HTML_TAG = /<\s*(!doctype\s+html|html|head|body|meta|title|div|p|table|tr|td|h[1-6]|span|a|ul|ol|li|section|article|br|main)\b/i;

function nameEnding(extension: string): string {
  return extension === '' ? 'its name has no extension' : `its name ends in ${extension}`;
}

/**
 * The format of an upload, from its first bytes (`SNIFF_BYTES` are enough) and
 * its file name. Binary formats are sniffed with file-type; text formats
 * (which file-type does not recognise) go by the extension, checked against the
 * content: text that is not binary, and HTML that has tags.
 *
 * Throws `UnsupportedDocumentError` naming what was found: `empty` for 0 bytes,
 * `mismatch` when the bytes are one type and the name another ("the file is a
 * PDF but its name ends in .docx"), `unsupported` otherwise.
 */
export async function detectFormat(head: Uint8Array, fileName: string): Promise<DocumentFormat> {
  const extension = extname(fileName).toLowerCase();
  const claimed = BY_EXTENSION[extension];
  if (head.length === 0) throw new UnsupportedDocumentError('empty', 'the file is empty (0 bytes)', 'nothing', extension);
  const sample = head.subarray(0, SNIFF_BYTES);
  const sniffed = await fileTypeFromBuffer(sample);
  if (sniffed) {
    let found: DocumentFormat | undefined;
    if (sniffed.ext === 'pdf') found = 'pdf';
    else if (sniffed.ext === 'docx' || (sniffed.ext === 'zip' && claimed === 'docx')) found = 'docx'; // the parser says whether a bare ZIP is a Word document
    else if (sniffed.ext === 'xml' && claimed === 'html') found = 'html'; // XHTML
    if (found && found === claimed) return found;
    const words = found ? FORMAT_WORDS[found] : (SNIFFED_WORDS[sniffed.ext] ?? `a ${sniffed.ext.toUpperCase()} file (${sniffed.mime})`);
    if (found || claimed) throw new UnsupportedDocumentError('mismatch', `the file is ${words} but ${nameEnding(extension)}`, words, extension);
    throw new UnsupportedDocumentError('unsupported', `the file is ${words}; ${SUPPORTED}`, words, extension);
  }
  const { text } = decodeText(sample, { partial: true });
  if (binaryShare(text.slice(0, 16_384)) > 0.02) {
    const reason = claimed ? 'mismatch' : 'unsupported';
    const message = claimed ? `the file is binary data, not ${FORMAT_WORDS[claimed]}, but ${nameEnding(extension)}` : `the file is binary data of an unknown type; ${SUPPORTED}`;
    throw new UnsupportedDocumentError(reason, message, 'binary data', extension);
  }
  const looksHtml = HTML_TAG.test(text.slice(0, 16_384));
  const words = looksHtml ? FORMAT_WORDS.html : FORMAT_WORDS.txt;
  if (claimed === 'html') {
    if (looksHtml) return 'html';
    throw new UnsupportedDocumentError('mismatch', `the file is plain text with no HTML tags but ${nameEnding(extension)}`, words, extension);
  }
  if (claimed === 'md' || claimed === 'txt' || claimed === 'csv') return claimed;
  if (claimed) throw new UnsupportedDocumentError('mismatch', `the file is ${words} but ${nameEnding(extension)}`, words, extension);
  throw new UnsupportedDocumentError('unsupported', `the file is ${words} but ${nameEnding(extension)}; ${SUPPORTED}`, words, extension);
}

/** The format a file name's extension stands for, if it is one of ours. */
export function formatFromName(fileName: string): DocumentFormat | undefined {
  return BY_EXTENSION[extname(fileName).toLowerCase()];
}
