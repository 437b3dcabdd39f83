import { describe, expect, it } from 'vitest';
import { blocksToText, DocumentParseError, type ParsedDocument } from '../src/index.ts';
import { parseDocument } from '../src/parsers/index.ts';
import { encryptedPdf, imageOnlyPdf, textPdf } from './support/pdf-fixtures.ts';

async function failure(promise: Promise<ParsedDocument>): Promise<DocumentParseError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DocumentParseError);
  return err as DocumentParseError;
}

describe('PDF', () => {
  it('keeps text per page with page numbers, paragraphs split at gaps, large short lines as headings', async () => {
    const bytes = await textPdf([
      { heading: 'Introduction', lines: ['First paragraph line one.', 'First paragraph line two.', '', 'Second paragraph.'] },
      { heading: 'Methods', lines: ['We measured twice.'] },
    ]);
    const doc = await parseDocument({ bytes }, 'pdf');
    expect(doc.pages).toBe(2);
    expect(doc.blocks).toEqual([
      { type: 'heading', level: 1, text: 'Introduction', page: 1 },
      { type: 'paragraph', text: 'First paragraph line one.\nFirst paragraph line two.', page: 1 },
      { type: 'paragraph', text: 'Second paragraph.', page: 1 },
      { type: 'page_break', page: 2 },
      { type: 'heading', level: 1, text: 'Methods', page: 2 },
      { type: 'paragraph', text: 'We measured twice.', page: 2 },
    ]);
  });

  it('reports progress after each page', async () => {
    const bytes = await textPdf([{ lines: ['a'] }, { lines: ['b'] }, { lines: ['c'] }]);
    const seen: string[] = [];
    await parseDocument({ bytes }, 'pdf', { onProgress: (p) => seen.push(`${p.pagesParsed}/${p.pagesTotal}`) });
    expect(seen).toEqual(['1/3', '2/3', '3/3']);
  });

  it('fails a PDF encrypted with a user password, with that reason', async () => {
    const bytes = await encryptedPdf({ userPassword: 'open-sesame', ownerPassword: 'owner', text: 'Secret minutes' });
    const err = await failure(parseDocument({ bytes }, 'pdf'));
    expect([err.kind, err.message]).toEqual(['encrypted', 'PDF is encrypted with a user password']);
    expect(err.code).toBe('VALIDATION_ERROR');
    expect(err.retryable).toBe(false);
  });

  it('opens a PDF encrypted with an owner password only (no password needed to read)', async () => {
    const bytes = await encryptedPdf({ ownerPassword: 'owner-only', text: 'Readable despite encryption' });
    expect(Buffer.from(bytes).includes('/Encrypt')).toBe(true);
    const doc = await parseDocument({ bytes }, 'pdf');
    expect(blocksToText(doc.blocks)).toContain('Readable despite encryption');
  });

  it('fails a truncated PDF as damaged, naming what pdf.js found', async () => {
    const whole = await textPdf([{ lines: ['one'] }, { lines: ['two'] }]);
    const err = await failure(parseDocument({ bytes: whole.subarray(0, Math.floor(whole.length / 3)) }, 'pdf'));
    expect(err.kind).toBe('damaged');
    expect(err.message).toMatch(/^PDF is damaged: \S/);
  });

  it('fails garbage with a %PDF header as damaged', async () => {
    const err = await failure(parseDocument({ bytes: new TextEncoder().encode('%PDF-1.7\n' + 'x'.repeat(500)) }, 'pdf'));
    expect(err.kind).toBe('damaged');
  });

  it('fails an image-only PDF: no text layer', async () => {
    const err = await failure(parseDocument({ bytes: await imageOnlyPdf() }, 'pdf'));
    expect([err.kind, err.message]).toEqual(['no_text', 'no text layer: the PDF is scanned images']);
  });

  it('fails a 0-byte file before pdf.js sees it', async () => {
    const err = await failure(parseDocument({ bytes: new Uint8Array(0) }, 'pdf'));
    expect(err.message).toBe('the file is empty (0 bytes)');
  });
});
