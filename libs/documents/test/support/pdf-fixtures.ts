// PDFs the tests generate: text pages (pdf-lib), encrypted files (pdfkit),
// an image-only page, a truncated file.
import { crc32, deflateSync } from 'node:zlib';
import PDFKit from 'pdfkit';
import { PDFDocument, StandardFonts } from 'pdf-lib';

export interface PageSpec {
  heading?: string;
  lines: string[];
}

/** One page per spec: an optional 24 pt heading, then 11 pt lines (a blank line = paragraph gap). */
export async function textPdf(pages: PageSpec[]): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (const spec of pages) {
    const page = doc.addPage([595, 842]);
    let y = 800;
    if (spec.heading) {
      page.drawText(spec.heading, { x: 50, y, size: 24, font });
      y -= 40;
    }
    for (const line of spec.lines) {
      if (line !== '') page.drawText(line, { x: 50, y, size: 11, font });
      y -= line === '' ? 10 : 14;
    }
  }
  return doc.save();
}

/** `count` pages of ~40 lines of prose each, for speed and progress. */
export async function longPdf(count: number): Promise<Uint8Array> {
  const line = 'The quick brown fox jumps over the lazy dog while the committee reviews page';
  return textPdf(Array.from({ length: count }, (_, i) => ({ heading: `Chapter ${i + 1}`, lines: Array.from({ length: 40 }, (_, j) => (j % 8 === 7 ? '' : `${line} ${i + 1}, line ${j + 1}.`)) })));
}

/** pdfkit with encryption: a user password makes it unreadable without one; an owner password alone only restricts. */
export function encryptedPdf(options: { userPassword?: string; ownerPassword: string; text: string }): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const doc = new PDFKit({ pdfVersion: '1.7ext3', ownerPassword: options.ownerPassword, ...(options.userPassword ? { userPassword: options.userPassword } : {}), permissions: { printing: 'highResolution' } });
    const parts: Buffer[] = [];
    doc.on('data', (b: Buffer) => parts.push(b));
    doc.on('end', () => resolve(new Uint8Array(Buffer.concat(parts))));
    doc.on('error', reject);
    doc.text(options.text);
    doc.end();
  });
}

/** A grey 64×64 PNG built by hand (zlib + CRC-32): a "scanned" page without text. */
function png(): Uint8Array {
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(64, 0);
  ihdr.writeUInt32BE(64, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit greyscale
  const raw = Buffer.alloc(64 * 65, 0x80);
  for (let row = 0; row < 64; row++) raw[row * 65] = 0; // filter byte
  return new Uint8Array(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]));
}

/** Two pages that are only an image each. */
export async function imageOnlyPdf(): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const image = await doc.embedPng(png());
  for (let i = 0; i < 2; i++) doc.addPage([595, 842]).drawImage(image, { x: 50, y: 300, width: 495, height: 495 });
  return doc.save();
}
