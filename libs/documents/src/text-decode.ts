// Turning bytes of unknown encoding into text: BOM, then UTF-16 by its NUL
// pattern, then UTF-8 validity, then
// the document's own declaration (HTML meta), then chardet's statistical guess,
// else UTF-8 with U+FFFD for what does not decode. A page that declares one
// charset but whose bytes are valid UTF-8 is read as UTF-8 (the corpus has one:
// qq.html declares gb2312).
import { analyse } from 'chardet';
import iconv from 'iconv-lite';

export interface DecodedText {
  text: string;
  /** The encoding used, as iconv-lite names it ('utf-8', 'utf-16le', 'windows-1252', …). */
  encoding: string;
}

export interface DecodeOptions {
  /** A charset the document declares about itself (HTML `<meta charset>`), used only when the bytes are not valid UTF-8. */
  declared?: string | undefined;
  /** The bytes are the head of a longer file: an incomplete last character is not a decoding error. */
  partial?: boolean;
}

const BOMS: readonly [number[], string][] = [
  [[0xff, 0xfe, 0x00, 0x00], 'utf-32le'],
  [[0x00, 0x00, 0xfe, 0xff], 'utf-32be'],
  [[0xef, 0xbb, 0xbf], 'utf-8'],
  [[0xff, 0xfe], 'utf-16le'],
  [[0xfe, 0xff], 'utf-16be'],
];

/** The encoding a byte-order mark at the start names, and the mark's length. */
export function bomEncoding(bytes: Uint8Array): { encoding: string; length: number } | undefined {
  for (const [bom, encoding] of BOMS) {
    if (bytes.length >= bom.length && bom.every((b, i) => bytes[i] === b)) return { encoding, length: bom.length };
  }
  return undefined;
}

function isValidUtf8(bytes: Uint8Array, partial: boolean): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: partial });
    return true;
  } catch {
    return false;
  }
}

/** UTF-16 without a BOM shows as NUL bytes on every other position of ASCII-range text. */
function nulPatternEncoding(bytes: Uint8Array): string | undefined {
  const n = Math.min(bytes.length, 4096) & ~1;
  if (n < 8) return undefined;
  let evenNul = 0;
  let oddNul = 0;
  for (let i = 0; i < n; i += 2) {
    if (bytes[i] === 0) evenNul++;
    if (bytes[i + 1] === 0) oddNul++;
  }
  const pairs = n / 2;
  if (oddNul > pairs * 0.4 && evenNul < pairs * 0.05) return 'utf-16le';
  if (evenNul > pairs * 0.4 && oddNul < pairs * 0.05) return 'utf-16be';
  return undefined;
}

function normaliseName(name: string): string | undefined {
  const lower = name.trim().toLowerCase();
  // WHATWG: latin1/ascii labels mean windows-1252; gb2312 means GBK (a GB18030 subset)
  const alias: Record<string, string> = { 'iso-8859-1': 'windows-1252', latin1: 'windows-1252', 'us-ascii': 'windows-1252', ascii: 'windows-1252', gb2312: 'gb18030', gbk: 'gb18030', 'utf-32': 'utf-32le' };
  const resolved = alias[lower] ?? lower;
  return iconv.encodingExists(resolved) ? resolved : undefined;
}

/** Picks the encoding of `bytes` (see the file's header for the order). */
export function detectEncoding(bytes: Uint8Array, options: DecodeOptions = {}): string {
  const bom = bomEncoding(bytes);
  if (bom) return bom.encoding;
  const sample = bytes.subarray(0, 1024 * 1024);
  // before the UTF-8 check: NUL bytes are valid UTF-8
  const nul = nulPatternEncoding(sample);
  if (nul) return nul;
  if (isValidUtf8(sample, options.partial === true || sample.length < bytes.length)) return 'utf-8';
  const declared = options.declared ? normaliseName(options.declared) : undefined;
  if (declared && declared !== 'utf-8') return declared;
  const matches = analyse(sample).filter((m) => m.confidence >= 10 && normaliseName(m.name) !== undefined);
  const top = matches[0];
  if (!top) return 'utf-8';
  // On short Western text chardet's single-byte guesses are close calls (417 bytes of Luxembourgish:
  // windows-1258 55, ISO-8859-1 45); prefer windows-1252, the web's common legacy charset, when near the top.
  const latin = matches.find((m) => m.name === 'ISO-8859-1' || m.name === 'windows-1252');
  if (latin && /^(windows-125|ISO-8859-)/.test(top.name) && top.confidence - latin.confidence <= 15) return 'windows-1252';
  return normaliseName(top.name) ?? 'utf-8';
}

/** Decodes `bytes` with the detected encoding, dropping a BOM; undecodable bytes become U+FFFD. */
export function decodeText(bytes: Uint8Array, options: DecodeOptions = {}): DecodedText {
  const encoding = detectEncoding(bytes, options);
  const bom = bomEncoding(bytes);
  const body = bom && bom.encoding === encoding ? bytes.subarray(bom.length) : bytes;
  const text = encoding === 'utf-8' ? new TextDecoder('utf-8').decode(body) : iconv.decode(Buffer.from(body.buffer, body.byteOffset, body.byteLength), encoding);
  return { text, encoding };
}

/** Share of characters that never occur in text (C0 controls other than tab, newlines, form feed; U+FFFD). */
export function binaryShare(text: string): number {
  if (text.length === 0) return 0;
  let bad = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 32 && c !== 9 && c !== 10 && c !== 13 && c !== 12) || c === 0xfffd) bad++;
  }
  return bad / text.length;
}
