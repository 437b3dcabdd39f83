import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { blocksToText } from '../src/index.ts';
import { parseDocument } from '../src/parsers/index.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('HTML', () => {
  it('drops script, style, noscript, template, JSON-LD, navigation and hidden text; keeps headings, lists and tables', async () => {
    const html = `<!doctype html><html><head><title>T</title><style>.a{color:red}</style>
      <script type="application/ld+json">{"@context":"https://schema.org","name":"LEAKED-LD"}</script></head>
      <body><nav><a href="/">Home</a> <a href="/about">LEAKED-NAV</a></nav>
      <div class="cookie-banner">LEAKED-COOKIE</div>
      <main><h1>Guide</h1><p>Intro <b>bold</b>
      text.</p><script>var leaked = "LEAKED-SCRIPT";</script><noscript>LEAKED-NOSCRIPT</noscript>
      <template><p>LEAKED-TEMPLATE</p></template><p hidden>LEAKED-HIDDEN</p><p style="display:none">LEAKED-STYLE</p>
      <h2>Steps</h2><ol><li>First<ul><li>Sub step</li></ul></li><li>Second</li></ol>
      <table><thead><tr><th>Name</th><th>Value</th></tr></thead><tbody><tr><td>a</td><td>1</td></tr></tbody></table>
      <pre>code  kept
  as is</pre></main><footer>LEAKED-FOOTER</footer></body></html>`;
    const doc = await parseDocument({ bytes: utf8(html) }, 'html');
    const text = blocksToText(doc.blocks);
    expect(text).not.toMatch(/LEAKED/);
    expect(doc.blocks).toEqual([
      { type: 'heading', level: 1, text: 'Guide' },
      { type: 'paragraph', text: 'Intro bold text.' },
      { type: 'heading', level: 2, text: 'Steps' },
      { type: 'list_item', depth: 0, text: 'First' },
      { type: 'list_item', depth: 1, text: 'Sub step' },
      { type: 'list_item', depth: 0, text: 'Second' },
      { type: 'table', header: true, rows: [['Name', 'Value'], ['a', '1']] },
      { type: 'paragraph', text: 'code  kept\n  as is' },
    ]);
  });

  it('keeps section content whose id happens to contain a furniture word', async () => {
    const doc = await parseDocument({ bytes: utf8('<html><body><div id="sharing-with-a-developer"><p>Kept content</p></div><div id="site-nav"><p>Menu</p></div></body></html>') }, 'html');
    expect(blocksToText(doc.blocks)).toBe('Kept content');
  });

  it('decodes UTF-32 with a BOM, Latin-1 without a declaration, and a page whose meta charset lies', async () => {
    const utf32 = await parseDocument({ bytes: new Uint8Array(iconv.encode('\ufeff<html><body><p>漊煻獌 and 袟袘觕</p></body></html>', 'utf-32le')) }, 'html');
    expect([utf32.encoding, blocksToText(utf32.blocks)]).toEqual(['utf-32le', '漊煻獌 and 袟袘觕']);
    const latin1 = await parseDocument({ bytes: new Uint8Array(iconv.encode('<html><body><p>Gét mä iech, déi schéin Stad</p></body></html>', 'latin1')) }, 'html');
    expect([latin1.encoding, blocksToText(latin1.blocks)]).toEqual(['windows-1252', 'Gét mä iech, déi schéin Stad']);
    const mislabelled = await parseDocument({ bytes: utf8('<html><head><meta charset="gb2312"></head><body><p>腾讯科技 新闻</p></body></html>') }, 'html');
    expect([mislabelled.encoding, blocksToText(mislabelled.blocks)]).toEqual(['utf-8', '腾讯科技 新闻']);
  });

  it('follows a true meta charset when the bytes are not UTF-8', async () => {
    const html = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251"></head><body><p>Привет, мир</p></body></html>';
    const doc = await parseDocument({ bytes: new Uint8Array(iconv.encode(html, 'windows-1251')) }, 'html');
    expect([doc.encoding, blocksToText(doc.blocks)]).toEqual(['windows-1251', 'Привет, мир']);
  });

  it('fails a page with no text', async () => {
    await expect(parseDocument({ bytes: utf8('<html><body><script>x()</script></body></html>') }, 'html')).rejects.toThrow('the HTML page has no text');
  });
});
