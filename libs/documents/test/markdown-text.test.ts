import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { blocksToText } from '../src/index.ts';
import { parseDocument } from '../src/parsers/index.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('Markdown', () => {
  it('keeps headings, list depth, tables and code; inline markup becomes plain words', async () => {
    const md = ['# Title', '', 'Some **bold** and [a link](http://example.test) and `code`.', '', '## Part', '', '- one', '  - nested', '- two', '', '| h1 | h2 |', '| -- | -- |', '| a | b |', '', '```', 'x = 1', '```', '', '<script>alert("LEAKED")</script>', '', '> quoted'].join('\n');
    const doc = await parseDocument({ bytes: utf8(md) }, 'md');
    expect(doc.blocks).toEqual([
      { type: 'heading', level: 1, text: 'Title' },
      { type: 'paragraph', text: 'Some bold and a link and code.' },
      { type: 'heading', level: 2, text: 'Part' },
      { type: 'list_item', depth: 0, text: 'one' },
      { type: 'list_item', depth: 1, text: 'nested' },
      { type: 'list_item', depth: 0, text: 'two' },
      { type: 'table', header: true, rows: [['h1', 'h2'], ['a', 'b']] },
      { type: 'paragraph', text: 'x = 1' },
      { type: 'paragraph', text: 'quoted' },
    ]);
  });

  it('lexes 4,000 small lists quickly (no superlinear parser)', async () => {
    const md = Array.from({ length: 4000 }, (_, i) => `- item ${i}\n\ntext ${i}\n`).join('\n');
    const t0 = performance.now();
    const doc = await parseDocument({ bytes: utf8(md) }, 'md');
    expect(doc.blocks.length).toBe(8000);
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});

describe('TXT', () => {
  it('splits paragraphs at blank lines and normalises line ends', async () => {
    const doc = await parseDocument({ bytes: utf8('first line\r\nsecond line\r\n\r\n\r\nnext paragraph  \n') }, 'txt');
    expect(doc.blocks).toEqual([
      { type: 'paragraph', text: 'first line\nsecond line' },
      { type: 'paragraph', text: 'next paragraph' },
    ]);
  });

  it('detects UTF-16 (BOM), UTF-16 without BOM, and a legacy single-byte encoding', async () => {
    const bom = await parseDocument({ bytes: new Uint8Array(iconv.encode('\ufeffÜberblick über 日本', 'utf-16le')) }, 'txt');
    expect([bom.encoding, blocksToText(bom.blocks)]).toEqual(['utf-16le', 'Überblick über 日本']);
    const noBom = await parseDocument({ bytes: new Uint8Array(iconv.encode('Plain ASCII words in UTF-16 big endian', 'utf-16be')) }, 'txt');
    expect([noBom.encoding, blocksToText(noBom.blocks)]).toEqual(['utf-16be', 'Plain ASCII words in UTF-16 big endian']);
    const latin = await parseDocument({ bytes: new Uint8Array(iconv.encode('Le café est très réputé pour ses crêpes et son thé glacé à la française.', 'latin1')) }, 'txt');
    expect(blocksToText(latin.blocks)).toBe('Le café est très réputé pour ses crêpes et son thé glacé à la française.');
  });

  it('text special to tokenizers is ordinary text', async () => {
    const doc = await parseDocument({ bytes: utf8('before <|endoftext|> after') }, 'txt');
    expect(blocksToText(doc.blocks)).toBe('before <|endoftext|> after');
  });

  it('fails a whitespace-only file', async () => {
    await expect(parseDocument({ bytes: utf8(' \n\n\t ') }, 'txt')).rejects.toThrow('the text file has no text');
  });
});
