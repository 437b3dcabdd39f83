import type { Block } from './types.ts';

/** Blocks → plain text (headings, paragraphs, list items indented by depth, tables as " | " rows), for previews and tests. */
export function blocksToText(blocks: readonly Block[]): string {
  return blocks
    .flatMap((b) => (b.type === 'page_break' ? [] : b.type === 'table' ? b.rows.map((r) => r.join(' | ')) : b.type === 'list_item' ? [`${'  '.repeat(b.depth)}- ${b.text}`] : [b.text]))
    .join('\n');
}
