import mammoth from 'mammoth';
import { parseHTML } from 'linkedom';
import { ParseFailure } from '../parse-failure.ts';
import type { ParseLimits, ParsedDocument } from '../types.ts';
import { precheckDocx } from './docx-precheck.ts';
import { domToBlocks } from './html-blocks.ts';

const STYLE_MAP = ["p[style-name='Title'] => h1:fresh", "p[style-name='Subtitle'] => h2:fresh"];
/** mammoth notes we do not pass on: styles it has no mapping for are expected. */
const QUIET = /^Unrecognised (paragraph|run|table) style/;

/**
 * DOCX → blocks: the package passes `precheckDocx` (size, ratio, entry
 * count), then mammoth turns it into HTML (headings, lists, tables, footnotes)
 * that `domToBlocks` walks. Images become their alt text and are never read:
 * linked images (file://, http) are not fetched (`externalFileAccess: false`,
 * and the image converter never calls `read()`).
 */
export async function parseDocx(bytes: Uint8Array, limits: ParseLimits): Promise<ParsedDocument> {
  await precheckDocx(bytes, limits);
  let html: string;
  let messages: { type: string; message: string }[];
  try {
    const result = await mammoth.convertToHtml(
      { buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) },
      { externalFileAccess: false, styleMap: STYLE_MAP, convertImage: mammoth.images.imgElement(async () => ({ src: '' })) },
    );
    html = result.value;
    messages = result.messages;
  } catch (err) {
    if (err instanceof RangeError) throw err; // a stack overflow on deep nesting: parseDocument names it
    const message = err instanceof Error ? err.message : String(err);
    if (/could not find main document part/i.test(message)) {
      throw new ParseFailure('not_a_document', 'docx', 'the file is a ZIP archive but not a Word document (no main document part)', { cause: err });
    }
    throw new ParseFailure('damaged', 'docx', `DOCX is damaged: ${message}`, { cause: err });
  }
  const body = parseHTML(`<!doctype html><html><body>${html}</body></html>`).document.body;
  // mammoth's back-links from a footnote to its reference ("↑")
  for (const a of body?.querySelectorAll('a[href^="#footnote-ref"], a[href^="#endnote-ref"]') ?? []) a.remove();
  const warnings = messages.filter((m) => !QUIET.test(m.message)).slice(0, 20).map((m) => m.message);
  return { format: 'docx', blocks: body ? domToBlocks(body) : [], warnings };
}
