import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { DocumentParseError } from '../src/index.ts';
import { parseDocument } from '../src/parsers/index.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('CSV', () => {
  it('renders each record as "column: value" lines under its header, quotes and embedded newlines kept', async () => {
    const doc = await parseDocument({ bytes: utf8('\ufeffname,city,note\n"Smith, Ann",Oslo,"two\nlines"\nBo,,short\n') }, 'csv');
    expect(doc.blocks).toEqual([
      { type: 'paragraph', text: 'name: Smith, Ann\ncity: Oslo\nnote: two\nlines' },
      { type: 'paragraph', text: 'name: Bo\nnote: short' },
    ]);
  });

  it('sniffs the delimiter, names columns when the first row is data, and decodes legacy encodings', async () => {
    const semi = await parseDocument({ bytes: new Uint8Array(iconv.encode('Stadt;Größe\nZürich;87\n', 'latin1')) }, 'csv');
    expect(semi.blocks).toEqual([{ type: 'paragraph', text: 'Stadt: Zürich\nGröße: 87' }]);
    const headerless = await parseDocument({ bytes: utf8('1,2\n3,4\n') }, 'csv');
    expect(headerless.blocks).toEqual([
      { type: 'paragraph', text: 'column 1: 1\ncolumn 2: 2' },
      { type: 'paragraph', text: 'column 1: 3\ncolumn 2: 4' },
    ]);
  });

  it('streams a large file from a path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'csda-csv-'));
    try {
      const path = join(dir, 'big.csv');
      writeFileSync(path, 'id,value\n' + Array.from({ length: 50_000 }, (_, i) => `${i},value ${i}`).join('\n'));
      const doc = await parseDocument({ path }, 'csv');
      expect(doc.blocks.length).toBe(50_000);
      expect(doc.blocks.at(-1)).toEqual({ type: 'paragraph', text: 'id: 49999\nvalue: value 49999' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails a record over max_record_size and an unclosed quote, with reasons', async () => {
    const long = await parseDocument({ bytes: utf8(`a,b\n1,${'x'.repeat(5000)}\n`) }, 'csv', { limits: { maxCsvRecordChars: 1000 } }).catch((e: unknown) => e);
    expect(long).toBeInstanceOf(DocumentParseError);
    expect((long as DocumentParseError).kind).toBe('too_large');
    expect((long as DocumentParseError).message).toMatch(/^CSV record( on line \d+)? is longer than 1000 characters$/);
    const unclosed = await parseDocument({ bytes: utf8('a,b\n1,"never closed\n2,3\n') }, 'csv').catch((e: unknown) => e);
    expect((unclosed as DocumentParseError).kind).toBe('malformed');
    expect((unclosed as DocumentParseError).message).toMatch(/^CSV is malformed: /);
  });

  it('stops at the text limit (maxTextChars), counted on the rendered rows', async () => {
    const csv = 'name,value\n' + Array.from({ length: 50 }, (_, i) => `n${i},${i}`).join('\n');
    const err = await parseDocument({ bytes: utf8(csv) }, 'csv', { limits: { maxTextChars: 100 } }).catch((e: unknown) => e);
    expect((err as DocumentParseError).kind).toBe('too_large');
    expect((err as DocumentParseError).message).toBe('CSV text is longer than 100 characters');
    const txt = await parseDocument({ bytes: utf8('word '.repeat(100)) }, 'txt', { limits: { maxTextChars: 100 } }).catch((e: unknown) => e);
    expect((txt as DocumentParseError).message).toBe("the document's text is longer than 100 characters");
  });
});
