import { decodeText } from '../text-decode.ts';
import type { Block, ParsedDocument } from '../types.ts';

/** Plain text → one paragraph per blank-line-separated run; the encoding is detected (see text-decode.ts). */
export function parseText(bytes: Uint8Array): ParsedDocument {
  const { text, encoding } = decodeText(bytes);
  const blocks: Block[] = [];
  for (const part of text.replace(/\r\n?/g, '\n').split(/\n[ \t\f\v]*\n/)) {
    const paragraph = part.replace(/[ \t\f\v]+$/gm, '').replace(/^\n+|\n+$/g, '');
    if (paragraph.trim() !== '') blocks.push({ type: 'paragraph', text: paragraph });
  }
  return { format: 'txt', blocks, encoding, warnings: [] };
}
