import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { detectFormat, UnsupportedDocumentError } from '../src/index.ts';
import { textPdf } from './support/pdf-fixtures.ts';
import { structuredDocx, zip } from './support/zip-fixtures.ts';

async function refusal(bytes: Uint8Array, name: string): Promise<UnsupportedDocumentError> {
  const err = await detectFormat(bytes, name).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UnsupportedDocumentError);
  return err as UnsupportedDocumentError;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('detectFormat', () => {
  it('sniffs PDF and DOCX from the bytes and agrees with the extension', async () => {
    expect(await detectFormat(await textPdf([{ lines: ['hello'] }]), 'report.PDF')).toBe('pdf');
    expect(await detectFormat(await structuredDocx(), 'report.docx')).toBe('docx');
  });

  it('names what the bytes are when the extension says otherwise', async () => {
    const pdfAsDocx = await refusal(await textPdf([{ lines: ['hello'] }]), 'report.docx');
    expect(pdfAsDocx.reason).toBe('mismatch');
    expect(pdfAsDocx.message).toBe('the file is a PDF but its name ends in .docx');
    expect(pdfAsDocx.details).toMatchObject({ field: 'file', found: 'a PDF', extension: '.docx' });
    expect((await refusal(await structuredDocx(), 'notes.txt')).message).toBe('the file is a Word document (DOCX) but its name ends in .txt');
    expect((await refusal(text('just words'), 'scan.pdf')).message).toBe('the file is plain text but its name ends in .pdf');
    expect((await refusal(text('<!doctype html><html><body><p>x</p></body></html>'), 'page.docx')).message).toBe('the file is an HTML page but its name ends in .docx');
  });

  it('refuses an empty file, binary data under a text extension, and types we do not take', async () => {
    const empty = await refusal(new Uint8Array(0), 'empty.txt');
    expect([empty.reason, empty.message]).toEqual(['empty', 'the file is empty (0 bytes)']);
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
    expect((await refusal(png, 'photo.png')).message).toMatch(/^the file is a PNG file \(image\/png\); supported types are PDF, DOCX, HTML, Markdown, TXT and CSV$/);
    expect((await refusal(png, 'photo.md')).message).toBe('the file is a PNG file (image/png) but its name ends in .md');
    const binary = Uint8Array.from({ length: 2000 }, (_, i) => (i * 7919) % 256);
    expect((await refusal(binary, 'data.csv')).message).toBe('the file is binary data, not CSV, but its name ends in .csv');
    const bareZip = await zip([{ name: 'a.txt', data: 'x' }]);
    expect((await refusal(bareZip, 'archive.zip')).message).toBe('the file is a ZIP archive; supported types are PDF, DOCX, HTML, Markdown, TXT and CSV');
    expect((await refusal(text('hello'), 'README')).message).toBe('the file is plain text but its name has no extension; supported types are PDF, DOCX, HTML, Markdown, TXT and CSV');
  });

  it('takes text formats by extension once the content is text, in any encoding', async () => {
    expect(await detectFormat(text('# Title\n\nbody'), 'notes.md')).toBe('md');
    expect(await detectFormat(text('a,b\n1,2\n'), 'data.csv')).toBe('csv');
    expect(await detectFormat(text('plain words'), 'notes.txt')).toBe('txt');
    const utf16 = new Uint8Array(iconv.encode('\ufeffUTF-16 text with a BOM', 'utf-16le'));
    expect(await detectFormat(utf16, 'notes.txt')).toBe('txt');
    const utf32 = new Uint8Array(iconv.encode('\ufeff<html><body><table><tr><td>漊煻獌</td></tr></table></body></html>', 'utf-32le'));
    expect(await detectFormat(utf32, 'page.html')).toBe('html');
    expect(await detectFormat(text('<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body><p>x</p></body></html>'), 'page.xhtml')).toBe('html');
  });

  it('refuses an .html file with no markup at all', async () => {
    expect((await refusal(text('no tags here, only words'), 'page.html')).message).toBe('the file is plain text with no HTML tags but its name ends in .html');
  });

  it('names a password-protected (or pre-2007) Office file under .docx', async () => {
    const cfb = new Uint8Array(4096);
    cfb.set([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
    expect((await refusal(cfb, 'minutes.docx')).message).toBe('the file is a legacy or password-protected Office file (OLE compound document) but its name ends in .docx');
  });

  it('a ZIP named .docx goes on to the DOCX parser, which decides', async () => {
    expect(await detectFormat(await zip([{ name: 'a.txt', data: 'x' }]), 'report.docx')).toBe('docx');
  });
});
