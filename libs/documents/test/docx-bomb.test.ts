import { describe, expect, it } from 'vitest';
import { DocumentParseError } from '../src/index.ts';
import { parseDocument } from '../src/parsers/index.ts';
import { bombDocx, understateSize, zip } from './support/zip-fixtures.ts';

async function failure(bytes: Uint8Array, limits = {}): Promise<DocumentParseError> {
  const err = await parseDocument({ bytes }, 'docx', { limits }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DocumentParseError);
  return err as DocumentParseError;
}

describe('DOCX decompression limits (checked before mammoth inflates anything)', () => {
  it('refuses a package that declares more than 200 MiB, at the default limit', async () => {
    const bytes = await bombDocx(201 * 1024 * 1024);
    expect(bytes.length).toBeLessThan(1024 * 1024); // a bomb: well under 1 MiB on the wire
    const err = await failure(bytes);
    expect([err.kind, err.message]).toEqual(['too_large', 'DOCX expands beyond the 200 MiB limit']);
  }, 60_000);

  it('refuses a part that expands past the compression-ratio limit', async () => {
    const err = await failure(await bombDocx(8 * 1024 * 1024));
    expect(err.kind).toBe('too_large');
    expect(err.message).toMatch(/^DOCX part word\/media\/padding\.bin expands \d+× \(limit 200×\): a decompression bomb$/);
  });

  it('a package within every limit parses', async () => {
    const doc = await parseDocument({ bytes: await bombDocx(512 * 1024) }, 'docx');
    expect(doc.blocks).toEqual([{ type: 'paragraph', text: 'Small text' }]);
  });

  it('catches a central directory that understates a part: inflating stops where the declared size ends', async () => {
    const honest = await bombDocx(600 * 1024);
    const lying = understateSize(honest, 'word/media/padding.bin', 1000);
    const err = await failure(lying);
    expect(err.kind).toBe('damaged');
    expect(err.message).toMatch(/^DOCX is damaged: .*too many bytes/i);
  });

  it('refuses too many parts', async () => {
    const entries = Array.from({ length: 30 }, (_, i) => ({ name: `word/part${i}.xml`, data: '<x/>' }));
    const err = await failure(await zip(entries), { maxZipEntries: 20 });
    expect(err.message).toBe('DOCX has 30 parts (limit 20)');
  });

  it('the limit is configurable', async () => {
    const err = await failure(await bombDocx(3 * 1024 * 1024), { maxUncompressedBytes: 2 * 1024 * 1024, maxCompressionRatio: 1e9 });
    expect(err.message).toBe('DOCX expands beyond the 2 MiB limit');
  });
});
