import { open } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import iconv from 'iconv-lite';
import { ParseFailure } from '../parse-failure.ts';
import { detectEncoding } from '../text-decode.ts';
import type { Block, ParseLimits, ParsedDocument } from '../types.ts';
import type { ParseSource } from './source.ts';

const SAMPLE = 64 * 1024;

async function sampleOf(source: ParseSource): Promise<Uint8Array> {
  if (source.bytes) return source.bytes.subarray(0, SAMPLE);
  const handle = await open(source.path);
  try {
    const buffer = Buffer.alloc(SAMPLE);
    const { bytesRead } = await handle.read(buffer, 0, SAMPLE, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** The delimiter used most on the first line, outside quotes (comma when none is). */
export function sniffDelimiter(firstLine: string): string {
  const counts = new Map<string, number>();
  let quoted = false;
  for (const ch of firstLine) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === ',' || ch === ';' || ch === '\t' || ch === '|')) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  }
  let best = ',';
  let most = 0;
  for (const [ch, n] of counts) if (n > most) [best, most] = [ch, n];
  return best;
}

const NUMBER = /^[-+]?[\d.,\s%$€£]+$/;

/**
 * CSV → one paragraph per record, header-aware: each row becomes
 * "column: value" lines (empty values skipped). The first record is the header
 * unless one of its cells is empty or a number; then columns are "column 1"….
 * The file is streamed through iconv-lite (encoding detected from its first
 * 64 KiB) into csv-parse, so a large file is never held whole as text.
 */
export async function parseCsv(source: ParseSource, limits: ParseLimits): Promise<ParsedDocument> {
  const sample = await sampleOf(source);
  const encoding = detectEncoding(sample, { partial: true });
  const firstLine = iconv.decode(Buffer.from(sample.buffer, sample.byteOffset, sample.byteLength), encoding).replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? '';
  const input = source.bytes ? Readable.from([Buffer.from(source.bytes.buffer, source.bytes.byteOffset, source.bytes.byteLength)]) : createReadStream(source.path);
  const parser = input.pipe(iconv.decodeStream(encoding)).pipe(
    parse({ delimiter: sniffDelimiter(firstLine), relax_column_count: true, relax_quotes: true, skip_empty_lines: true, max_record_size: limits.maxCsvRecordChars, bom: true, trim: true }),
  );
  const blocks: Block[] = [];
  let header: string[] | undefined;
  let chars = 0;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (header === undefined) {
        if (record.every((c) => c !== '' && !NUMBER.test(c))) {
          header = record;
          continue;
        }
        header = [];
      }
      const names = header;
      const lines = record.flatMap((value, i) => (value === '' ? [] : [`${names[i] || `column ${i + 1}`}: ${value}`]));
      if (lines.length === 0) continue;
      const text = lines.join('\n');
      chars += text.length;
      if (chars > limits.maxTextChars) throw new ParseFailure('too_large', 'csv', `CSV text is longer than ${limits.maxTextChars.toLocaleString('en-US')} characters`);
      blocks.push({ type: 'paragraph', text });
    }
  } catch (err) {
    input.destroy();
    if (err instanceof ParseFailure) throw err;
    if (err instanceof CsvError) {
      const line = (err as CsvError & { lines?: number }).lines;
      if (err.code === 'CSV_MAX_RECORD_SIZE') throw new ParseFailure('too_large', 'csv', `CSV record${line ? ` on line ${line}` : ''} is longer than ${limits.maxCsvRecordChars} characters`);
      throw new ParseFailure('malformed', 'csv', `CSV is malformed: ${err.message}`, { cause: err });
    }
    throw err;
  }
  if (blocks.length === 0 && header && header.length > 0) blocks.push({ type: 'paragraph', text: header.join(', ') });
  return { format: 'csv', blocks, encoding, warnings: [] };
}
