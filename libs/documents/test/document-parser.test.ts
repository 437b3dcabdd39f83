import { afterAll, describe, expect, it } from 'vitest';
import { blocksToText, createDocumentParser, DocumentParseError } from '../src/index.ts';
import { textPdf } from './support/pdf-fixtures.ts';
import { structuredDocx } from './support/zip-fixtures.ts';

const parser = createDocumentParser({ spares: 1, memoryLimitMb: 128 });
afterAll(() => parser.close());

describe('createDocumentParser (workers started ahead, one per document)', () => {
  it('parses documents of every kind one after another, each in its own worker', async () => {
    const pdf = await parser.parse(await textPdf([{ lines: ['from a pdf'] }]), { format: 'pdf' });
    const docx = await parser.parse(await structuredDocx(), { format: 'docx' });
    const md = await parser.parse(new TextEncoder().encode('# Hi\n\nthere'), { format: 'md' });
    expect(blocksToText(pdf.blocks)).toBe('from a pdf');
    expect(docx.blocks[0]).toEqual({ type: 'heading', level: 1, text: 'Quarterly Report' });
    expect(md.blocks).toEqual([
      { type: 'heading', level: 1, text: 'Hi' },
      { type: 'paragraph', text: 'there' },
    ]);
  });

  it('runs parses side by side', async () => {
    const docs = await Promise.all(['one', 'two', 'three'].map((word) => parser.parse(new TextEncoder().encode(word), { format: 'txt' })));
    expect(docs.map((d) => blocksToText(d.blocks))).toEqual(['one', 'two', 'three']);
  });

  it('a worker that runs out of memory is not reused: the next parse gets a fresh one', async () => {
    const huge = new TextEncoder().encode('<html><body>' + '<p>word</p>'.repeat(2_000_000) + '</body></html>');
    const err = await parser.parse(huge, { format: 'html' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DocumentParseError);
    expect((err as DocumentParseError).message).toBe('parsing ran out of memory (limit 128 MiB)');
    const next = await parser.parse(new TextEncoder().encode('fine'), { format: 'txt' });
    expect(blocksToText(next.blocks)).toBe('fine');
  }, 60_000);

  it('times out from the moment the document is handed over', async () => {
    const bytes = await textPdf(Array.from({ length: 200 }, (_, i) => ({ lines: [`page ${i}`] })));
    const err = await parser.parse(bytes, { format: 'pdf', timeoutMs: 30 }).catch((e: unknown) => e);
    expect((err as DocumentParseError).kind).toBe('timeout');
  });

  it('refuses work after close', async () => {
    const closing = createDocumentParser({ spares: 1 });
    await closing.close();
    await expect(closing.parse(new Uint8Array([1]), { format: 'txt' })).rejects.toThrow('the document parser is closed');
  });
});
