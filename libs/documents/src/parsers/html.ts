import { parseHTML } from 'linkedom';
import { bomEncoding, decodeText } from '../text-decode.ts';
import type { ParsedDocument } from '../types.ts';
import { ParseFailure } from '../parse-failure.ts';
import { domToBlocks } from './html-blocks.ts';
import { htmlDepth, MAX_HTML_DEPTH } from './nesting.ts';

/** `<meta charset>` / `http-equiv` / XML declaration in the first 1,024 bytes (the HTML spec's prescan window). */
export function declaredCharset(bytes: Uint8Array): string | undefined {
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 1024));
  const meta = /<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)/i.exec(head) ?? /<\?xml[^>]+encoding\s*=\s*["']([\w.:-]+)/i.exec(head);
  return meta?.[1];
}

/**
 * HTML → blocks. The charset comes from a BOM, else the bytes themselves when
 * they are valid UTF-8, else the page's declaration, else chardet. The body
 * is walked by `domToBlocks` (scripts, styles, templates, JSON-LD, navigation
 * and page furniture dropped).
 */
export function parseHtml(bytes: Uint8Array): ParsedDocument {
  const declared = bomEncoding(bytes) ? undefined : declaredCharset(bytes);
  const { text, encoding } = decodeText(bytes, { declared });
  if (htmlDepth(text) > MAX_HTML_DEPTH) throw new ParseFailure('malformed', 'html', `the HTML page is nested deeper than ${MAX_HTML_DEPTH} elements`);
  const { document } = parseHTML(text.includes('<html') || text.includes('<HTML') ? text : `<!doctype html><html><body>${text}</body></html>`);
  const body = document.body ?? document.documentElement;
  const blocks = body ? domToBlocks(body) : [];
  return { format: 'html', blocks, encoding, warnings: [] };
}
