// `npm run test:corpus`: every PDF, DOCX and HTML file of the reference
// corpus ($CSDA_CORPUS_DIR/{pdf,docx,html}, see each folder's README and
// index.json) through detection and the parse worker, with the service's
// limits (512 MiB, 60 s). Every file must become text or fail with a reason;
// none may crash the worker or this process. What each file must do is read
// from its index.json entry (encrypted with a user password → encrypted;
// clean text layer → text with the sample's characters; no text layer →
// no_text; corrupt DOCX → a failure), independently of the parser's code.
// Prints a table of outcomes per file and the parse speed of a generated
// 200-page text PDF.
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { blocksToText, chunkDocument, detectFormat, DocumentParseError, parseInWorker, SNIFF_BYTES, UnsupportedDocumentError } from '../src/index.ts';
import { longPdf } from './support/pdf-fixtures.ts';

const corpus = process.env.CSDA_CORPUS_DIR ?? '';
const LIMITS = { memoryLimitMb: 512, timeoutMs: 60_000 };

interface Outcome {
  folder: string;
  file: string;
  outcome: 'text' | 'failed' | 'refused';
  detail: string;
  ms: number;
}
const outcomes: Outcome[] = [];

async function head(path: string): Promise<Uint8Array> {
  const handle = await open(path);
  try {
    const buffer = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, SNIFF_BYTES, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

type Result = { kind: 'text'; text: string; chunks: number; pages?: number } | { kind: 'failed'; error: DocumentParseError } | { kind: 'refused'; error: UnsupportedDocumentError };

async function run(folder: string, file: string): Promise<Result> {
  const path = join(corpus, folder, file);
  const t0 = performance.now();
  let result: Result;
  try {
    const format = await detectFormat(await head(path), file);
    const doc = await parseInWorker(path, { format, ...LIMITS });
    const chunks = chunkDocument(doc, { documentId: file, version: 1 });
    result = { kind: 'text', text: blocksToText(doc.blocks), chunks: chunks.length, ...(doc.pages ? { pages: doc.pages } : {}) };
  } catch (err) {
    if (err instanceof DocumentParseError) result = { kind: 'failed', error: err };
    else if (err instanceof UnsupportedDocumentError) result = { kind: 'refused', error: err };
    else throw err; // anything else is a crash of ours: the test fails
  }
  const ms = Math.round(performance.now() - t0);
  const detail = result.kind === 'text' ? `${result.text.length} chars, ${result.chunks} chunks${result.pages ? `, ${result.pages} pages` : ''}` : `${result.kind === 'failed' ? result.error.kind : result.error.reason}: ${result.error.message}`;
  outcomes.push({ folder, file, outcome: result.kind, detail, ms });
  return result;
}

/**
 * Share of the sample's distinct non-space characters found in the text, both NFKC-normalised (robust to
 * spacing, RTL, CJK, and Arabic presentation forms that poppler and pdf.js map differently).
 */
function coverage(sample: string, text: string): number {
  const want = new Set(Array.from(sample.normalize('NFKC').replace(/[\s\p{Cf}]+/gu, ''))); // bidi marks are poppler's, not text
  if (want.size === 0) return 1;
  const have = new Set(Array.from(text.normalize('NFKC')));
  let found = 0;
  for (const ch of want) if (have.has(ch)) found++;
  return found / want.size;
}

/** Distinctive lines (≥ 40 characters) of the page's inline scripts, styles and JSON-LD: none may reach the text. */
function inlineCode(html: string): string[] {
  const lines: string[] = [];
  for (const m of html.matchAll(/<(script|style)\b[^>]*>([\s\S]*?)<\/\1\s*>/gi)) {
    for (const line of (m[2] ?? '').split('\n')) if (line.trim().length >= 40 && /^[\x20-\x7e]+$/.test(line.trim())) lines.push(line.trim());
  }
  return lines.slice(0, 200);
}

async function index<T>(folder: string): Promise<T[]> {
  return (JSON.parse(await readFile(join(corpus, folder, 'index.json'), 'utf8')) as { files: T[] }).files;
}

interface PdfEntry {
  name: string;
  encrypted: boolean;
  password_required: boolean;
  has_text_layer: boolean;
  damage: 'none' | 'recoverable' | 'unreadable';
  text_sample: string;
  notes: string;
}
interface DocxEntry {
  name: string;
  corrupt: boolean;
  valid_zip: boolean;
  has_document_xml: boolean;
  text_chars: number;
  text_sample: string;
}
interface HtmlEntry {
  name: string;
  actual_encoding: string;
  text_sample: string;
}

const [pdfs, docxs, htmls] = await Promise.all([index<PdfEntry>('pdf'), index<DocxEntry>('docx'), index<HtmlEntry>('html')]);

afterAll(() => {
  const rows = outcomes.map((o) => `| ${o.folder}/${o.file} | ${o.outcome} | ${o.detail.replace(/\|/g, '/').slice(0, 110)} | ${o.ms} |`);
  const counts = ['text', 'failed', 'refused'].map((k) => `${k} ${outcomes.filter((o) => o.outcome === k).length}`).join(', ');
  console.log(['', `documents corpus: ${outcomes.length} files — ${counts}`, '| file | outcome | detail | ms |', '| --- | --- | --- | --- |', ...rows].join('\n'));
});

describe('PDF corpus', () => {
  for (const entry of pdfs) {
    it(entry.name, async () => {
      const result = await run('pdf', entry.name);
      expect(result.kind).not.toBe('refused');
      // r6-user-password.pdf has a user password and an EMPTY owner password: poppler opens it as owner,
      // pdf.js asks for the user password. Either is a correct reading of the file.
      const ownerOpens = entry.name === 'r6-user-password.pdf';
      if (entry.password_required && !ownerOpens) {
        expect(result.kind === 'failed' && result.error.kind).toBe('encrypted');
        expect(result.kind === 'failed' && result.error.message).toBe('PDF is encrypted with a user password');
      } else if (entry.has_text_layer && entry.damage === 'none' && !ownerOpens) {
        expect(result.kind).toBe('text');
        if (result.kind === 'text') expect(coverage(entry.text_sample, result.text)).toBeGreaterThanOrEqual(0.8);
      } else if (!entry.has_text_layer && entry.damage === 'none' && !entry.encrypted) {
        expect(result.kind === 'failed' && result.error.message).toBe('no text layer: the PDF is scanned images');
      } else if (result.kind === 'failed') {
        expect(['damaged', 'no_text', 'encrypted']).toContain(result.error.kind);
      }
    });
  }
});

describe('DOCX corpus', () => {
  for (const entry of docxs) {
    it(entry.name, async () => {
      const result = await run('docx', entry.name);
      if (entry.corrupt || !entry.valid_zip || !entry.has_document_xml) expect(result.kind).not.toBe('text');
      else if (entry.text_chars > 0) {
        expect(result.kind).toBe('text');
        if (result.kind === 'text') expect(coverage(entry.text_sample, result.text)).toBeGreaterThanOrEqual(0.8);
      } else expect(result.kind === 'failed' && result.error.kind).toBe('no_text');
    });
  }
});

describe('HTML corpus', () => {
  for (const entry of htmls) {
    it(entry.name, async () => {
      const result = await run('html', entry.name);
      expect(result.kind).toBe('text');
      if (result.kind !== 'text') return;
      expect(coverage(entry.text_sample, result.text)).toBeGreaterThanOrEqual(0.6);
      for (const line of inlineCode(await readFile(join(corpus, 'html', entry.name), 'latin1'))) expect(result.text).not.toContain(line);
      expect(result.text).not.toMatch(/\uFFFD/); // decoded with the right charset
    });
  }
});

describe('parse speed', () => {
  it('a generated 200-page text PDF in the worker (pages/s printed; timings are only meaningful on an idle machine)', async () => {
    const bytes = await longPdf(200);
    const t0 = performance.now();
    const doc = await parseInWorker(bytes, { format: 'pdf', ...LIMITS });
    const seconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    const chunks = chunkDocument(doc, { documentId: 'speed', version: 1 });
    const chunkSeconds = (performance.now() - t1) / 1000;
    expect(doc.pages).toBe(200);
    console.log(`200-page text PDF (${(bytes.length / 1024).toFixed(0)} KiB): parse ${seconds.toFixed(2)} s = ${(200 / seconds).toFixed(0)} pages/s (worker start included); chunking ${chunkSeconds.toFixed(2)} s, ${chunks.length} chunks`);
  });
});
