// Documents the tests generate, one per format (nothing is read from outside the repository).
import { Document, HeadingLevel, Packer, Paragraph, Table, TableCell, TableRow } from 'docx';
import PDFKit from 'pdfkit';
import { PDFDocument, StandardFonts } from 'pdf-lib';

const PROSE = [
  'Photosynthesis converts light energy into chemical energy stored in glucose.',
  'Chlorophyll absorbs mostly blue and red light and reflects green light.',
  'The Calvin cycle fixes carbon dioxide into three-carbon sugars.',
];

/** `pages` pages, each with a heading and some lines naming the page. */
export async function textPdf(pages: number, word = 'photosynthesis'): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (let i = 0; i < pages; i++) {
    const page = doc.addPage([595, 842]);
    page.drawText(`Chapter ${i + 1}`, { x: 50, y: 790, size: 24, font });
    const lines = [...PROSE, `Page ${i + 1} is about ${word} and page number ${i + 1}.`];
    lines.forEach((line, j) => page.drawText(line, { x: 50, y: 740 - j * 16, size: 11, font }));
  }
  return doc.save();
}

/** A PDF that opens only with a user password. */
export function encryptedPdf(): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const doc = new PDFKit({ pdfVersion: '1.7ext3', userPassword: 'open-sesame', ownerPassword: 'owner-secret' });
    const parts: Buffer[] = [];
    doc.on('data', (b: Buffer) => parts.push(b));
    doc.on('end', () => resolve(new Uint8Array(Buffer.concat(parts))));
    doc.on('error', reject);
    doc.text('Nobody reads this without the password.');
    doc.end();
  });
}

export async function docx(word = 'mitochondria'): Promise<Uint8Array> {
  const doc = new Document({
    sections: [
      {
        children: [
          new Paragraph({ text: 'Cell biology', heading: HeadingLevel.HEADING_1 }),
          new Paragraph({ text: `The ${word} is the powerhouse of the cell and makes ATP.` }),
          new Paragraph({ text: 'Organelles', heading: HeadingLevel.HEADING_2 }),
          new Table({
            rows: [
              new TableRow({ children: [new TableCell({ children: [new Paragraph('organelle')] }), new TableCell({ children: [new Paragraph('role')] })] }),
              new TableRow({ children: [new TableCell({ children: [new Paragraph('ribosome')] }), new TableCell({ children: [new Paragraph('protein synthesis')] })] }),
            ],
          }),
        ],
      },
    ],
  });
  return new Uint8Array(await Packer.toBuffer(doc));
}

const enc = (s: string) => new TextEncoder().encode(s);

export const html = (word = 'volcano') =>
  enc(`<!doctype html><html><head><title>Geology</title><style>body{color:red}</style><script>var secret = "never indexed";</script></head>
<body><nav>Home | About</nav><h1>Volcanoes</h1><p>A ${word} erupts magma, ash and gases.</p><h2>Types</h2><p>Shield volcanoes have gentle slopes.</p></body></html>`);
export const markdown = (word = 'glacier') => enc(`# Ice\n\nA ${word} is a persistent body of dense ice.\n\n## Movement\n\nGlaciers move slowly under their own weight.\n`);
export const text = (word = 'tides') => enc(`The ${word} are caused by the gravity of the moon and the sun.\nSpring tides are larger than neap tides.\n`);
export const csv = (word = 'comet') => enc(`name,kind,note\nHalley,${word},returns every 76 years\nCeres,dwarf planet,largest in the asteroid belt\n`);

/** Long prose: `paragraphs` paragraphs of twelve sentences, every sentence different, for documents of many chunks. */
export function longText(paragraphs: number, word = 'erosion'): Uint8Array {
  const out: string[] = [];
  for (let i = 1; i <= paragraphs; i++) {
    const sentences = Array.from({ length: 12 }, (_, j) => `In paragraph ${i}, sentence ${j + 1} says that ${word} moved ${i * 100 + j} grains of sand across the valley floor.`);
    out.push(sentences.join(' '));
  }
  return enc(out.join('\n\n'));
}
