import { Lexer, type Token, type Tokens } from 'marked';
import { ParseFailure } from '../parse-failure.ts';
import { decodeText } from '../text-decode.ts';
import { markdownDepth, MAX_MARKDOWN_DEPTH } from './nesting.ts';
import type { Block, ParsedDocument } from '../types.ts';

/** Inline tokens → plain text: emphasis and links keep their words, images their alt text, HTML loses its tags. */
function inline(tokens: readonly Token[] | undefined, fallback = ''): string {
  if (!tokens) return fallback;
  let out = '';
  for (const t of tokens) {
    switch (t.type) {
      case 'br':
        out += '\n';
        break;
      case 'codespan':
      case 'escape':
        out += (t as Tokens.Codespan).text;
        break;
      case 'image':
        out += (t as Tokens.Image).text;
        break;
      case 'html':
        out += (t as Tokens.HTML).text.replace(/<[^>]*>/g, '');
        break;
      default:
        out += 'tokens' in t && Array.isArray(t.tokens) ? inline(t.tokens) : 'text' in t ? String(t.text) : '';
    }
  }
  return out;
}

function clean(text: string): string {
  return text.replace(/[ \t]+/g, ' ').replace(/ *\n */g, '\n').trim();
}

function toBlocks(tokens: readonly Token[], blocks: Block[], depth: number): void {
  for (const t of tokens) {
    switch (t.type) {
      case 'heading': {
        const h = t as Tokens.Heading;
        const text = clean(inline(h.tokens, h.text));
        if (text) blocks.push({ type: 'heading', level: h.depth, text });
        break;
      }
      case 'paragraph':
      case 'text': {
        const p = t as Tokens.Paragraph;
        const text = clean(inline(p.tokens, p.text));
        if (text) blocks.push({ type: 'paragraph', text });
        break;
      }
      case 'code': {
        const text = (t as Tokens.Code).text;
        if (text.trim()) blocks.push({ type: 'paragraph', text });
        break;
      }
      case 'blockquote':
        toBlocks((t as Tokens.Blockquote).tokens, blocks, depth);
        break;
      case 'list':
        for (const item of (t as Tokens.List).items) listItem(item, blocks, depth);
        break;
      case 'table': {
        const table = t as Tokens.Table;
        const rows = [table.header.map((c) => clean(inline(c.tokens, c.text))), ...table.rows.map((r) => r.map((c) => clean(inline(c.tokens, c.text))))];
        blocks.push({ type: 'table', rows, header: true });
        break;
      }
      case 'html': {
        const html = t as Tokens.HTML;
        const text = clean(html.text.replace(/<(script|style|template)\b[\s\S]*?<\/\1\s*>/gi, '').replace(/<[^>]*>/g, ' '));
        if (text) blocks.push({ type: 'paragraph', text });
        break;
      }
      default: // space, hr, def: no text
    }
  }
}

// An item's first paragraph is the item; further paragraphs follow as paragraphs, nested lists one level deeper.
function listItem(item: Tokens.ListItem, blocks: Block[], depth: number): void {
  let own: string | undefined;
  const rest: Token[] = [];
  for (const t of item.tokens) {
    if (own === undefined && (t.type === 'text' || t.type === 'paragraph')) own = clean(inline((t as Tokens.Text).tokens, (t as Tokens.Text).text));
    else if (t.type === 'list') {
      if (own) blocks.push({ type: 'list_item', depth, text: own });
      own = '';
      if (rest.length) toBlocks(rest.splice(0), blocks, depth);
      toBlocks([t], blocks, depth + 1);
    } else rest.push(t);
  }
  if (own) blocks.push({ type: 'list_item', depth, text: own });
  if (rest.length) toBlocks(rest, blocks, depth);
}

/** Markdown → blocks with marked's lexer (linear; no HTML rendering). */
export function parseMarkdown(bytes: Uint8Array): ParsedDocument {
  const { text, encoding } = decodeText(bytes);
  if (markdownDepth(text) > MAX_MARKDOWN_DEPTH) throw new ParseFailure('malformed', 'md', `the Markdown file is nested deeper than ${MAX_MARKDOWN_DEPTH} levels`);
  const blocks: Block[] = [];
  toBlocks(new Lexer({ gfm: true }).lex(text), blocks, 0);
  return { format: 'md', blocks, encoding, warnings: [] };
}
