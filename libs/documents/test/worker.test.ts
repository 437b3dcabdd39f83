import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blocksToText, DocumentParseError, parseInWorker, type ParsedDocument } from '../src/index.ts';
import { encryptedPdf, textPdf } from './support/pdf-fixtures.ts';
import { bombDocx } from './support/zip-fixtures.ts';

async function failure(promise: Promise<ParsedDocument>): Promise<DocumentParseError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DocumentParseError);
  return err as DocumentParseError;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'csda-worker-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('parseInWorker', () => {
  it('parses bytes in a worker and reports PDF progress; the caller keeps its buffer', async () => {
    const bytes = await textPdf([{ lines: ['page one'] }, { lines: ['page two'] }]);
    const progress: number[] = [];
    const doc = await parseInWorker(bytes, { format: 'pdf', onProgress: (p) => progress.push(p.pagesParsed) });
    expect(blocksToText(doc.blocks)).toBe('page one\npage two');
    expect(progress).toEqual([1, 2]);
    expect(bytes.byteLength).toBeGreaterThan(0); // not transferred away
  });

  it('parses from a path the worker reads itself', async () => {
    const path = join(dir, 'notes.md');
    writeFileSync(path, '# Notes\n\nbody text');
    const doc = await parseInWorker(path, { format: 'md' });
    expect(doc.blocks).toEqual([
      { type: 'heading', level: 1, text: 'Notes' },
      { type: 'paragraph', text: 'body text' },
    ]);
  });

  it("brings the parser's reason across the thread boundary", async () => {
    const encrypted = await failure(parseInWorker(await encryptedPdf({ userPassword: 'u', ownerPassword: 'o', text: 'x' }), { format: 'pdf' }));
    expect([encrypted.kind, encrypted.message, encrypted.format]).toEqual(['encrypted', 'PDF is encrypted with a user password', 'pdf']);
    const bomb = await failure(parseInWorker(await bombDocx(201 * 1024 * 1024), { format: 'docx' }));
    expect(bomb.message).toBe('DOCX expands beyond the 200 MiB limit');
  }, 60_000);

  it('stops a parse that outgrows its memory limit; this process goes on', async () => {
    // 40 MB of tiny paragraphs: linkedom's DOM for it is far beyond a 64 MiB heap
    const html = '<html><body>' + '<p>word</p>'.repeat(4_000_000) + '</body></html>';
    const path = join(dir, 'huge.html');
    writeFileSync(path, html);
    const err = await failure(parseInWorker(path, { format: 'html', memoryLimitMb: 64 }));
    expect([err.kind, err.message]).toEqual(['out_of_memory', 'parsing ran out of memory (limit 64 MiB)']);
    const after = await parseInWorker(new TextEncoder().encode('still alive'), { format: 'txt' });
    expect(blocksToText(after.blocks)).toBe('still alive');
  }, 60_000);

  it('counts ArrayBuffer memory, which the V8 heap limit does not', async () => {
    // 150 MB of bytes live outside the V8 heap (the transferred buffer); not a ZIP, so the DOCX check fails fast
    const bytes = new Uint8Array(150 * 1024 * 1024);
    const unsampled = await failure(parseInWorker(bytes, { format: 'docx', memoryLimitMb: 100, memoryCheckMs: 60_000 }));
    expect(unsampled.kind).toBe('damaged'); // the heap limit alone let 150 MB through
    const sampled = await failure(parseInWorker(bytes, { format: 'docx', memoryLimitMb: 100, memoryCheckMs: 10 }));
    expect([sampled.kind, sampled.message]).toEqual(['out_of_memory', 'parsing ran out of memory (limit 100 MiB)']);
  }, 60_000);

  it('stops a parse that takes longer than its timeout', async () => {
    const bytes = await textPdf(Array.from({ length: 30 }, (_, i) => ({ lines: [`page ${i}`] })));
    const err = await failure(parseInWorker(bytes, { format: 'pdf', timeoutMs: 50 }));
    expect([err.kind, err.message]).toEqual(['timeout', 'parsing took longer than 0.1 s']);
  });

  it('refuses a format it does not know before starting a worker', async () => {
    await expect(parseInWorker(new Uint8Array(1), { format: 'exe' as never })).rejects.toThrow('format must be one of pdf, docx, html, md, txt, csv (got exe)');
  });

  it('an aborted signal stops the worker with the signal reason', async () => {
    const controller = new AbortController();
    const promise = parseInWorker(await textPdf([{ lines: ['x'] }]), { format: 'pdf', signal: controller.signal });
    controller.abort(new Error('shutting down'));
    await expect(promise).rejects.toThrow('shutting down');
  });
});
