// PDF → blocks with unpdf (pdf.js 6.1 built for servers). pdf.js runs on the
// calling thread in Node, so call this only inside the parse worker. The
// pdfjs-dist package is a data dependency: its cmaps/ and standard_fonts/
// folders (CJK and base-14 fonts need them); its JavaScript is never loaded —
// two pdf.js builds in one process clash over their worker.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { getDocumentProxy } from 'unpdf';
import { ParseFailure } from '../parse-failure.ts';
import type { Block, ParseLimits, ParseProgress, ParsedDocument } from '../types.ts';

const pdfjsData = dirname(createRequire(import.meta.url).resolve('pdfjs-dist/package.json'));

interface Line {
  text: string;
  size: number;
  /** A paragraph starts here (first line on the page, or a vertical gap above it). */
  breakBefore: boolean;
}

interface TextItemLike {
  str?: string;
  hasEOL?: boolean;
  transform?: number[];
  height?: number;
}

/** Items → lines; a gap over 1.6 line heights, or a font-size change, starts a new paragraph. */
function linesOf(items: TextItemLike[]): Line[] {
  const lines: Line[] = [];
  let text = '';
  let size = 0;
  let y: number | undefined;
  let lastY: number | undefined;
  let lastSize = 0;
  const end = (): void => {
    const t = text.replace(/\s+/g, ' ').trim();
    if (t !== '') {
      const gap = lastY !== undefined && y !== undefined ? Math.abs(lastY - y) : 0;
      const breakBefore = lines.length === 0 || gap > 1.6 * Math.max(size, lastSize, 1) || Math.abs(size - lastSize) > 0.5;
      lines.push({ text: t, size, breakBefore });
      lastY = y;
      lastSize = size;
    }
    text = '';
    size = 0;
    y = undefined;
  };
  for (const item of items) {
    if (typeof item.str !== 'string') continue;
    if (item.str !== '') {
      if (y === undefined) y = item.transform?.[5];
      size = Math.max(size, Math.round((item.height ?? 0) * 10) / 10);
      text += item.str;
    }
    if (item.hasEOL) end();
    else if (item.str === '' && text !== '') text += ' ';
  }
  end();
  return lines;
}

/** The font size most of the document's characters are set in. */
function bodySize(pages: Line[][]): number {
  const weight = new Map<number, number>();
  for (const lines of pages) for (const l of lines) weight.set(l.size, (weight.get(l.size) ?? 0) + l.text.length);
  let best = 0;
  let most = -1;
  for (const [size, n] of weight) if (n > most) [best, most] = [size, n];
  return best;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Text per page, page numbers kept: each page's lines grouped into paragraphs,
 * short lines set clearly larger than the body text become headings (the
 * three largest sizes → levels 1–3), FreeText annotations and filled form
 * fields added to their page. Fails with: "PDF is encrypted with a user
 * password" (owner-password-only files open), "PDF is damaged: …", "no text
 * layer: the PDF is scanned images".
 */
export async function parsePdf(bytes: Uint8Array, limits: ParseLimits, onProgress?: (p: ParseProgress) => void): Promise<ParsedDocument> {
  let pdf: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    pdf = await getDocumentProxy(bytes, {
      cMapUrl: join(pdfjsData, 'cmaps') + '/',
      cMapPacked: true,
      standardFontDataUrl: join(pdfjsData, 'standard_fonts') + '/',
      useSystemFonts: false,
      verbosity: 0,
    });
  } catch (err) {
    const name = (err as { name?: string } | null)?.name;
    if (name === 'PasswordException') throw new ParseFailure('encrypted', 'pdf', 'PDF is encrypted with a user password', { cause: err });
    throw new ParseFailure('damaged', 'pdf', `PDF is damaged: ${describe(err)}`, { cause: err });
  }
  const warnings: string[] = [];
  const pages: Line[][] = [];
  let chars = 0;
  try {
    for (let n = 1; n <= pdf.numPages; n++) {
      try {
        const page = await pdf.getPage(n);
        const lines = linesOf((await page.getTextContent()).items as TextItemLike[]);
        for (const a of (await page.getAnnotations()) as { subtype?: string; fieldValue?: unknown; contentsObj?: { str?: string } }[]) {
          const extra = a.subtype === 'FreeText' ? a.contentsObj?.str : a.subtype === 'Widget' && typeof a.fieldValue === 'string' ? a.fieldValue : undefined;
          if (extra?.trim()) lines.push({ text: extra.trim(), size: 0, breakBefore: true });
        }
        page.cleanup();
        pages.push(lines);
        for (const l of lines) chars += l.text.length;
        if (chars > limits.maxTextChars) throw new ParseFailure('too_large', 'pdf', `PDF text is longer than ${limits.maxTextChars.toLocaleString('en-US')} characters`);
      } catch (err) {
        if (err instanceof ParseFailure) throw err;
        warnings.push(`page ${n} could not be read: ${describe(err)}`);
        pages.push([]);
      }
      onProgress?.({ pagesParsed: n, pagesTotal: pdf.numPages });
    }
  } finally {
    await pdf.loadingTask.destroy();
  }
  if (chars === 0) {
    if (warnings.length === pages.length && pages.length > 0) throw new ParseFailure('damaged', 'pdf', `PDF is damaged: ${warnings[0]}`);
    throw new ParseFailure('no_text', 'pdf', 'no text layer: the PDF is scanned images');
  }
  const body = bodySize(pages);
  const headingSizes = [...new Set(pages.flat().map((l) => l.size))].filter((s) => body > 0 && s >= body * 1.15).sort((a, b) => b - a).slice(0, 3);
  const blocks: Block[] = [];
  pages.forEach((lines, i) => {
    const page = i + 1;
    if (page > 1) blocks.push({ type: 'page_break', page });
    let paragraph: string[] = [];
    const flush = (): void => {
      if (paragraph.length) blocks.push({ type: 'paragraph', text: paragraph.join('\n'), page });
      paragraph = [];
    };
    for (const line of lines) {
      const level = headingSizes.indexOf(line.size) + 1;
      if (level > 0 && line.text.length <= 120) {
        flush();
        const last = blocks.at(-1);
        // a heading set on two lines is one heading
        if (last?.type === 'heading' && last.page === page && last.level === level && !line.breakBefore) last.text += ` ${line.text}`;
        else blocks.push({ type: 'heading', level, text: line.text, page });
        continue;
      }
      if (line.breakBefore) flush();
      paragraph.push(line.text);
    }
    flush();
  });
  return { format: 'pdf', pages: pdf.numPages, blocks, warnings };
}
