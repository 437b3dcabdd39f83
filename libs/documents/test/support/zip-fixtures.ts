// DOCX packages the tests generate: real ones with the docx package, hand-made
// ones (external image links, bombs, lying sizes) with yazl.
import { Readable } from 'node:stream';
import { Document, HeadingLevel, Packer, Paragraph, Table, TableCell, TableRow, TextRun } from 'docx';
import yazl from 'yazl';

/** A Word document with a title, headings, a nested bullet list, a table and body text. */
export async function structuredDocx(): Promise<Uint8Array> {
  const cell = (text: string): TableCell => new TableCell({ children: [new Paragraph(text)] });
  const doc = new Document({
    sections: [
      {
        children: [
          new Paragraph({ text: 'Quarterly Report', heading: HeadingLevel.HEADING_1 }),
          new Paragraph({ children: [new TextRun('Revenue grew in every region. '), new TextRun({ text: 'Costs fell.', bold: true })] }),
          new Paragraph({ text: 'Regions', heading: HeadingLevel.HEADING_2 }),
          new Paragraph({ text: 'North', bullet: { level: 0 } }),
          new Paragraph({ text: 'North-east', bullet: { level: 1 } }),
          new Paragraph({ text: 'South', bullet: { level: 0 } }),
          new Table({ rows: [new TableRow({ children: [cell('Region'), cell('Revenue')] }), new TableRow({ children: [cell('North'), cell('120')] }), new TableRow({ children: [cell('South'), cell('95')] })] }),
          new Paragraph({ text: 'Outlook', heading: HeadingLevel.HEADING_2 }),
          new Paragraph('Next quarter looks steady.'),
        ],
      },
    ],
  });
  return new Uint8Array(await Packer.toBuffer(doc));
}

const CONTENT_TYPES = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`;
const ROOT_RELS = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`;
const NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"';

export type ZipEntry = { name: string; data: Buffer | string } | { name: string; stream: () => Readable; compress?: boolean };

/** A ZIP built with yazl from named parts. */
export function zip(entries: ZipEntry[]): Promise<Uint8Array> {
  const z = new yazl.ZipFile();
  for (const e of entries) {
    if ('data' in e) z.addBuffer(Buffer.from(e.data), e.name);
    else z.addReadStream(e.stream(), e.name, { compress: e.compress ?? true });
  }
  z.end();
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    z.outputStream.on('data', (b: Buffer) => parts.push(b));
    z.outputStream.on('end', () => resolve(new Uint8Array(Buffer.concat(parts))));
    z.outputStream.on('error', reject);
  });
}

function paragraph(text: string): string {
  return `<w:p><w:r><w:t>${text}</w:t></w:r></w:p>`;
}

function linkedPicture(relId: string, n: number): string {
  return `<w:p><w:r><w:drawing><wp:inline><wp:extent cx="100" cy="100"/><wp:docPr id="${n}" name="Picture ${n}" descr="linked picture ${n}"/><a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:pic><pic:nvPicPr><pic:cNvPr id="${n}" name="p${n}"/><pic:cNvPicPr/></pic:nvPicPr><pic:blipFill><a:blip r:link="${relId}"/></pic:blipFill><pic:spPr/></pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>`;
}

/** A minimal DOCX whose pictures are linked (TargetMode="External") to the given URLs, never embedded. */
export function linkedImagesDocx(targets: string[]): Promise<Uint8Array> {
  const rels = targets.map((t, i) => `<Relationship Id="rIdImg${i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" Target="${t}" TargetMode="External"/>`).join('');
  const body = [paragraph('Before the pictures'), ...targets.map((_, i) => linkedPicture(`rIdImg${i}`, i + 1)), paragraph('After the pictures')].join('');
  return zip([
    { name: '[Content_Types].xml', data: CONTENT_TYPES },
    { name: '_rels/.rels', data: ROOT_RELS },
    { name: 'word/_rels/document.xml.rels', data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">${rels}</Relationships>` },
    { name: 'word/document.xml', data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document ${NS}><w:body>${body}</w:body></w:document>` },
  ]);
}

/** `bytes` zero bytes, streamed (never held in memory). */
export function zeros(bytes: number): () => Readable {
  return () => {
    const block = Buffer.alloc(1024 * 1024);
    let left = bytes;
    return new Readable({
      read() {
        if (left <= 0) return void this.push(null);
        const n = Math.min(left, block.length);
        left -= n;
        this.push(n === block.length ? block : block.subarray(0, n));
      },
    });
  };
}

/** A valid small DOCX with one extra part of `bombBytes` zeros (compresses ~1000×). */
export function bombDocx(bombBytes: number): Promise<Uint8Array> {
  return zip([
    { name: '[Content_Types].xml', data: CONTENT_TYPES },
    { name: '_rels/.rels', data: ROOT_RELS },
    { name: 'word/document.xml', data: `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document ${NS}><w:body>${paragraph('Small text')}</w:body></w:document>` },
    { name: 'word/media/padding.bin', stream: zeros(bombBytes) },
  ]);
}

/** Rewrites the central directory's uncompressed size of `entryName` to `declared` bytes: a package whose sizes lie. */
export function understateSize(bytes: Uint8Array, entryName: string, declared: number): Uint8Array {
  const buf = Buffer.from(bytes);
  const name = Buffer.from(entryName);
  for (let i = buf.length - 46; i >= 0; i--) {
    if (buf.readUInt32LE(i) !== 0x02014b50) continue;
    const nameLength = buf.readUInt16LE(i + 28);
    if (nameLength === name.length && buf.subarray(i + 46, i + 46 + nameLength).equals(name)) {
      buf.writeUInt32LE(declared, i + 24);
      return new Uint8Array(buf);
    }
  }
  throw new Error(`${entryName} not in the central directory`);
}
