import { fromBufferPromise, type Entry } from 'yauzl';
import { ParseFailure } from '../parse-failure.ts';
import type { ParseLimits } from '../types.ts';

function mib(bytes: number): string {
  return `${Math.round(bytes / (1024 * 1024))} MiB`;
}

function damaged(err: unknown): ParseFailure {
  const message = err instanceof Error ? err.message : String(err);
  const why = /end of central directory record signature not found/i.test(message) ? 'the ZIP central directory is missing (a truncated file?)' : message;
  return new ParseFailure('damaged', 'docx', `DOCX is damaged: ${why}`, { cause: err });
}

/**
 * Refuses a DOCX package before anything inflates it for real: ZIP structure
 * (yauzl reads the central directory), entry count, total declared
 * uncompressed size, per-entry compression ratio, encrypted entries, and a
 * main document part. Then every entry is inflated once into a counter (not
 * kept) with yauzl's size validation, so a central directory that understates
 * sizes is caught too; mammoth (JSZip) only ever sees a package whose real
 * expanded size is within the limit.
 */
export async function precheckDocx(bytes: Uint8Array, limits: ParseLimits): Promise<void> {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const zip = await fromBufferPromise(buffer, { lazyEntries: true, validateEntrySizes: true, strictFileNames: false }).catch((err: unknown) => {
    throw damaged(err);
  });
  try {
    if (zip.entryCount > limits.maxZipEntries) throw new ParseFailure('too_large', 'docx', `DOCX has ${zip.entryCount} parts (limit ${limits.maxZipEntries})`);
    const entries: Entry[] = [];
    let declared = 0;
    for await (const entry of zip.eachEntry()) {
      entries.push(entry);
      declared += entry.uncompressedSize;
      if (declared > limits.maxUncompressedBytes) throw new ParseFailure('too_large', 'docx', `DOCX expands beyond the ${mib(limits.maxUncompressedBytes)} limit`);
      if (entry.isEncrypted()) throw new ParseFailure('encrypted', 'docx', 'DOCX is encrypted');
      const ratio = entry.uncompressedSize / Math.max(1, entry.compressedSize);
      if (entry.uncompressedSize > 1024 * 1024 && ratio > limits.maxCompressionRatio) {
        throw new ParseFailure('too_large', 'docx', `DOCX part ${entry.fileName} expands ${Math.round(ratio)}× (limit ${limits.maxCompressionRatio}×): a decompression bomb`);
      }
    }
    if (!entries.some((e) => e.fileName === 'word/document.xml')) {
      throw new ParseFailure('not_a_document', 'docx', 'the file is a ZIP archive but not a Word document (no word/document.xml)');
    }
    let inflated = 0;
    for (const entry of entries) {
      if (entry.fileName.endsWith('/')) continue;
      const stream = await zip.openReadStreamPromise(entry).catch((err: unknown) => {
        throw damaged(err);
      });
      try {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          inflated += chunk.length;
          if (inflated > limits.maxUncompressedBytes) throw new ParseFailure('too_large', 'docx', `DOCX expands beyond the ${mib(limits.maxUncompressedBytes)} limit`);
        }
      } catch (err) {
        stream.destroy();
        throw err instanceof ParseFailure ? err : damaged(err);
      }
    }
  } finally {
    zip.close();
  }
}
