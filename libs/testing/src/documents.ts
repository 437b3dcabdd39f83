// Documents the tests and benchmarks generate, one generator per format
// (nothing is read from outside the repository). The short ones carry one
// searchable word each for tests; the prose ones are deterministic from a seed
// and sized like real files, for benchmarks. Exported as `@csda/testing/documents`
// so the docx / pdfkit / pdf-lib imports load only where documents are made.
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
  return proseDocx('Cell biology', [
    { heading: '', paragraphs: [`The ${word} is the powerhouse of the cell and makes ATP.`] },
    { heading: 'Organelles', paragraphs: [], table: [['organelle', 'role'], ['ribosome', 'protein synthesis']] },
  ]);
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

const WORDS = (
  'tide moon gravity ocean current basin shore wave energy orbit coast harbour salinity estuary delta plankton reef storm surge latitude ' +
  'river valley glacier sediment erosion climate pressure front monsoon rainfall drought forest canopy soil nitrogen carbon cycle station survey'
).split(' ');

/** A deterministic word source: the same seed gives the same words. */
export function proseWords(seed: number): () => string {
  let state = (seed * 7919 + 1) % 2 ** 31;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return WORDS[state % WORDS.length]!;
  };
}

/** A section of a generated document: a heading (none when empty), paragraphs, optionally a table (first row: header). */
export interface ProseSection {
  readonly heading: string;
  readonly paragraphs: readonly string[];
  readonly table?: readonly (readonly string[])[];
}

/** `sections` sections of `paragraphs` paragraphs, each of 4–7 sentences of 8–19 words (about 60–130 words). */
export function proseSections(seed: number, sections: number, paragraphs: number): ProseSection[] {
  const word = proseWords(seed);
  const sentence = () => {
    const words = Array.from({ length: 8 + (word().length % 12) }, word);
    return `${words[0]!.charAt(0).toUpperCase()}${words.join(' ').slice(1)}.`;
  };
  return Array.from({ length: sections }, (_, s) => ({
    heading: `Section ${s + 1}: ${word()} and ${word()}`,
    paragraphs: Array.from({ length: paragraphs }, () => Array.from({ length: 4 + (word().length % 4) }, sentence).join(' ')),
  }));
}

/** A text PDF of `pages` dense pages: a heading and 36 lines of ~11 words each (~430 words a page, like a printed report). */
export async function prosePdf(seed: number, pages: number): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  const word = proseWords(seed);
  for (let p = 0; p < pages; p++) {
    const page = pdf.addPage([595, 842]);
    page.drawText(`Document ${seed} chapter ${p + 1}`, { x: 50, y: 790, size: 20, font });
    for (let line = 0; line < 36; line++) {
      const text = `${Array.from({ length: 11 }, word).join(' ')}${line % 3 === 2 ? '.' : ','} page ${p + 1}`;
      // A blank line every third: paragraphs.
      page.drawText(text, { x: 50, y: 750 - line * 18 - Math.floor(line / 3) * 6, size: 10, font });
    }
  }
  return pdf.save();
}

const cells = (row: readonly string[]) => row.map((c) => new TableCell({ children: [new Paragraph(c)] }));

/** A DOCX: the title as heading 1, each section's heading as heading 2, its paragraphs and table. */
export async function proseDocx(title: string, sections: readonly ProseSection[]): Promise<Uint8Array> {
  const children: (Paragraph | Table)[] = [new Paragraph({ text: title, heading: HeadingLevel.HEADING_1 })];
  for (const s of sections) {
    if (s.heading !== '') children.push(new Paragraph({ text: s.heading, heading: HeadingLevel.HEADING_2 }));
    for (const p of s.paragraphs) children.push(new Paragraph({ text: p }));
    if (s.table) children.push(new Table({ rows: s.table.map((row) => new TableRow({ children: cells(row) })) }));
  }
  return new Uint8Array(await Packer.toBuffer(new Document({ sections: [{ children }] })));
}

const escape = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;');

/** An HTML article with the boilerplate a saved web page has (style, script, nav, footer) around the sections. */
export function proseHtml(title: string, sections: readonly ProseSection[]): Uint8Array {
  const body = sections.map((s) => `<h2>${escape(s.heading)}</h2>\n${s.paragraphs.map((p) => `<p>${escape(p)}</p>`).join('\n')}`).join('\n');
  return enc(
    `<!doctype html><html><head><title>${escape(title)}</title><style>body{font-family:sans-serif}</style><script>window.analytics = [];</script></head>
<body><nav><a href="/">Home</a> | <a href="/about">About</a></nav><article><h1>${escape(title)}</h1>
${body}
</article><footer>Generated for a benchmark.</footer></body></html>`,
  );
}

export function proseMarkdown(title: string, sections: readonly ProseSection[]): Uint8Array {
  return enc(`# ${title}\n\n${sections.map((s) => `## ${s.heading}\n\n${s.paragraphs.join('\n\n')}\n`).join('\n')}`);
}

/** Plain text: the title, then paragraphs separated by blank lines (headings as their own lines). */
export function proseText(title: string, sections: readonly ProseSection[]): Uint8Array {
  return enc(`${title}\n\n${sections.map((s) => `${s.heading}\n\n${s.paragraphs.join('\n\n')}`).join('\n\n')}\n`);
}

/** A CSV of `rows` observations: id, station, measure, value, a note of 6–12 words. */
export function proseCsv(seed: number, rows: number): Uint8Array {
  const word = proseWords(seed);
  const lines = ['id,station,measure,value,note'];
  for (let i = 1; i <= rows; i++) lines.push(`${i},${word()} ${i % 17},${word()},${((i * 37) % 1000) / 10},"${Array.from({ length: 6 + (i % 7) }, word).join(' ')}"`);
  return enc(`${lines.join('\n')}\n`);
}
