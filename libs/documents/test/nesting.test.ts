import { describe, expect, it } from 'vitest';
import { DocumentParseError, parseInWorker, type DocumentFormat } from '../src/index.ts';
import { parseDocument } from '../src/parsers/index.ts';
import { zip } from './support/zip-fixtures.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

async function failure(bytes: Uint8Array, format: DocumentFormat): Promise<DocumentParseError> {
  const err = await parseDocument({ bytes }, format).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DocumentParseError);
  return err as DocumentParseError;
}

// A megabyte can nest 100,000 deep; parsers recurse per level. Refused up front, not by a stack overflow.
describe('hostile nesting', () => {
  const n = 100_000;

  it('HTML nested 100,000 elements deep fails fast as malformed', async () => {
    const t0 = performance.now();
    for (const html of ['<div>'.repeat(n) + 'x' + '</div>'.repeat(n), '<ul><li>'.repeat(n) + 'x', '<b><i>'.repeat(n)]) {
      const err = await failure(utf8(`<html><body>${html}</body></html>`), 'html');
      expect([err.kind, err.message]).toEqual(['malformed', 'the HTML page is nested deeper than 2000 elements']);
    }
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('HTML nested 1,500 deep still parses', async () => {
    const doc = await parseDocument({ bytes: utf8('<html><body>' + '<div>'.repeat(1500) + 'deep text' + '</div>'.repeat(1500) + '</body></html>') }, 'html');
    expect(doc.blocks).toEqual([{ type: 'paragraph', text: 'deep text' }]);
  });

  it('Markdown with 100,000 nested quotes or 5,000 nested list levels fails fast as malformed', async () => {
    for (const md of ['>'.repeat(n) + ' deep\n', Array.from({ length: 5000 }, (_, i) => `${' '.repeat(i * 2)}- item`).join('\n')]) {
      const err = await failure(utf8(md), 'md');
      expect([err.kind, err.message]).toEqual(['malformed', 'the Markdown file is nested deeper than 100 levels']);
    }
    const ok = await parseDocument({ bytes: utf8('> > > quoted three deep\n\n- a\n  - b\n    - c\n') }, 'md');
    expect(ok.blocks.map((b) => b.type)).toEqual(['paragraph', 'list_item', 'list_item', 'list_item']);
  });

  it('a DOCX of 20,000 nested tables ends as malformed, not as a crash worth retrying', async () => {
    const ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"';
    const body = '<w:tbl><w:tr><w:tc>'.repeat(20_000) + '<w:p><w:r><w:t>deep</w:t></w:r></w:p>' + '</w:tc></w:tr></w:tbl>'.repeat(20_000);
    const bytes = await zip([
      { name: '[Content_Types].xml', data: '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>' },
      { name: '_rels/.rels', data: '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>' },
      { name: 'word/document.xml', data: `<?xml version="1.0"?><w:document ${ns}><w:body>${body}</w:body></w:document>` },
    ]);
    const err = await parseInWorker(bytes, { format: 'docx' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DocumentParseError);
    expect([(err as DocumentParseError).kind, (err as DocumentParseError).message]).toEqual(['malformed', 'the DOCX is nested too deeply to parse']);
    expect((err as DocumentParseError).retryable).toBe(false);
  }, 60_000);
});
