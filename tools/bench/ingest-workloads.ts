// The documents of `npm run bench -- ingest`: one long text PDF (a book-sized
// report) and a mix of the six formats at the sizes people upload (a few KB
// to a few tens of KB), all deterministic so runs compare.
import { readFileSync, writeFileSync } from 'node:fs';
import { DOCUMENT_FORMATS, type DocumentFormat } from '@csda/documents';
import { proseCsv, proseDocx, proseHtml, proseMarkdown, prosePdf, proseSections, proseText } from '@csda/testing/documents';

export interface BenchDoc {
  /** The extension is the format's name (`.md`, `.txt`, …): detectFormat needs it for the text formats. */
  readonly filename: string;
  readonly format: DocumentFormat;
  readonly bytes: Uint8Array;
  /** PDF pages; 0 for the formats without pages. */
  readonly pages: number;
}

export async function textPdfDoc(seed: number, pages: number): Promise<BenchDoc> {
  return { filename: `report-${seed}.pdf`, format: 'pdf', bytes: await prosePdf(seed, pages), pages };
}

/** `n` documents in turn over the six formats, each of a size that varies with its index. */
export async function mixedDocuments(n: number): Promise<BenchDoc[]> {
  const make = async (i: number): Promise<BenchDoc> => {
    const seed = 1_000 + i;
    const format = DOCUMENT_FORMATS[i % DOCUMENT_FORMATS.length]!;
    const title = `Field notes ${i}`;
    const base = { filename: `notes-${i}.${format}`, format, pages: 0 };
    switch (format) {
      case 'pdf': {
        const pages = 1 + (i % 5);
        return { ...base, bytes: await prosePdf(seed, pages), pages };
      }
      case 'docx': {
        const sections = proseSections(seed, 3 + (i % 4), 3);
        const table = [['station', 'reading'], ...Array.from({ length: 6 }, (_, r) => [`station ${r + 1}`, String((r * 37 + i) % 100)])];
        return { ...base, bytes: await proseDocx(title, [...sections, { heading: 'Readings', paragraphs: [], table }]) };
      }
      case 'html':
        return { ...base, bytes: proseHtml(title, proseSections(seed, 2 + (i % 4), 3)) };
      case 'md':
        return { ...base, bytes: proseMarkdown(title, proseSections(seed, 2 + (i % 3), 3)) };
      case 'txt':
        return { ...base, bytes: proseText(title, proseSections(seed, 1 + (i % 4), 3)) };
      case 'csv':
        return { ...base, bytes: proseCsv(seed, 40 + ((i * 13) % 160)) };
    }
  };
  return Promise.all(Array.from({ length: n }, (_, i) => make(i)));
}

/** "17 pdf (51 pages), 17 docx, …, 2.1 MiB" */
export function describeDocs(docs: readonly BenchDoc[]): string {
  const byFormat = DOCUMENT_FORMATS.map((f) => {
    const of = docs.filter((d) => d.format === f);
    const pages = of.reduce((n, d) => n + d.pages, 0);
    return of.length === 0 ? '' : `${of.length} ${f}${pages > 0 ? ` (${pages} pages)` : ''}`;
  }).filter((s) => s !== '');
  return `${byFormat.join(', ')}; ${(docs.reduce((n, d) => n + d.bytes.length, 0) / 1024 / 1024).toFixed(2)} MiB`;
}

/**
 * Peak resident memory of a process (`self`: this one, worker threads
 * included): VmHWM, which `resetPeakRss` sets back to the current RSS
 * (clear_refs 5), so a peak belongs to one phase. Linux only.
 */
export function peakRssMiB(pid: number | 'self'): number {
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`/proc/${pid}/status has no VmHWM`);
  return Number(kb) / 1024;
}

export function resetPeakRss(pid: number | 'self'): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}
