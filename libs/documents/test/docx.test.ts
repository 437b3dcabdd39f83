import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mammoth from 'mammoth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blocksToText, DocumentParseError } from '../src/index.ts';
import { parseDocument } from '../src/parsers/index.ts';
import { linkedImagesDocx, structuredDocx, zip } from './support/zip-fixtures.ts';

describe('DOCX structure', () => {
  it('keeps headings, nested lists and tables as blocks', async () => {
    const doc = await parseDocument({ bytes: await structuredDocx() }, 'docx');
    expect(doc.blocks).toEqual([
      { type: 'heading', level: 1, text: 'Quarterly Report' },
      { type: 'paragraph', text: 'Revenue grew in every region. Costs fell.' },
      { type: 'heading', level: 2, text: 'Regions' },
      { type: 'list_item', depth: 0, text: 'North' },
      { type: 'list_item', depth: 1, text: 'North-east' },
      { type: 'list_item', depth: 0, text: 'South' },
      { type: 'table', header: false, rows: [['Region', 'Revenue'], ['North', '120'], ['South', '95']] },
      { type: 'heading', level: 2, text: 'Outlook' },
      { type: 'paragraph', text: 'Next quarter looks steady.' },
    ]);
  });

  it('fails a ZIP that is not a Word document, and a truncated one, with reasons', async () => {
    const notWord = await parseDocument({ bytes: await zip([{ name: 'notes.txt', data: 'hello' }]) }, 'docx').catch((e: unknown) => e);
    expect(notWord).toBeInstanceOf(DocumentParseError);
    expect((notWord as DocumentParseError).message).toBe('the file is a ZIP archive but not a Word document (no word/document.xml)');
    const whole = await structuredDocx();
    const truncated = await parseDocument({ bytes: whole.subarray(0, Math.floor(whole.length * 0.6)) }, 'docx').catch((e: unknown) => e);
    expect((truncated as DocumentParseError).kind).toBe('damaged');
    expect((truncated as DocumentParseError).message).toBe('DOCX is damaged: the ZIP central directory is missing (a truncated file?)');
  });
});

describe('DOCX linked images are never fetched', () => {
  let dir: string;
  let fifo: string;
  let png: string;
  let server: Server;
  let requests = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'csda-docx-'));
    fifo = join(dir, 'picture.png');
    // opening a FIFO for reading blocks until someone writes: a parser that tries to read it hangs
    execFileSync('mkfifo', [fifo]);
    png = join(dir, 'real.png');
    writeFileSync(png, Buffer.from('89504e470d0a1a0a', 'hex'));
    server = createServer((_req, res) => {
      requests++;
      res.end('x');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterAll(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('control: the fixture is a linked picture mammoth reads when external access is allowed', async () => {
    const bytes = await linkedImagesDocx([`file://${png}`]);
    const result = await mammoth.convertToHtml({ buffer: Buffer.from(bytes) }, { externalFileAccess: true });
    expect(result.value).toContain(`data:image/png;base64,${Buffer.from('89504e470d0a1a0a', 'hex').toString('base64')}`);
  });

  it('parses text around file:// and http links without opening or requesting them', async () => {
    const port = (server.address() as AddressInfo).port;
    const bytes = await linkedImagesDocx([`file://${fifo}`, fifo, `http://127.0.0.1:${port}/picture.png`]);
    const doc = await parseDocument({ bytes }, 'docx');
    const text = blocksToText(doc.blocks);
    expect(text).toContain('Before the pictures');
    expect(text).toContain('After the pictures');
    expect(requests).toBe(0);
  }, 10_000);
});
