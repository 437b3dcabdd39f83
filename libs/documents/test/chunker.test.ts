import { describe, expect, it } from 'vitest';
import bpeRanks from 'gpt-tokenizer/bpeRanks/cl100k_base';
import { encode } from 'gpt-tokenizer/encoding/cl100k_base';
import { chunkDocument, countTokens, type Block, type ParsedDocument } from '../src/index.ts';
import { MAX_TOKEN_BYTES, tokensWithin } from '../src/chunk/tokens.ts';

const doc = (blocks: Block[], format: ParsedDocument['format'] = 'md'): ParsedDocument => ({ format, blocks, warnings: [] });
const sentence = (i: number): string => `Sentence number ${i} talks about the topic at some modest length.`;
const prose = (from: number, count: number): string => Array.from({ length: count }, (_, i) => sentence(from + i)).join(' ');
const ids = { documentId: '7d1f5a2e-1111-4c3b-9d6e-0a0b0c0d0e0f', version: 3 };

describe('chunkDocument', () => {
  it('gives deterministic UUID v5 ids from document id, version and index', () => {
    const d = doc([{ type: 'paragraph', text: prose(0, 80) }]);
    const a = chunkDocument(d, ids);
    const b = chunkDocument(d, ids);
    expect(a.length).toBeGreaterThan(2);
    expect(a.map((c) => c.id)).toEqual(b.map((c) => c.id));
    expect(new Set(a.map((c) => c.id)).size).toBe(a.length);
    for (const c of a) expect(c.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const next = chunkDocument(d, { ...ids, version: 4 });
    expect(next.map((c) => c.id).some((id) => a.some((c) => c.id === id))).toBe(false);
    expect(a.map((c) => c.index)).toEqual(a.map((_, i) => i));
  });

  it('starts a chunk at each heading and records the heading path; consecutive headings stay together', () => {
    const chunks = chunkDocument(
      doc([
        { type: 'heading', level: 1, text: 'Guide' },
        { type: 'heading', level: 2, text: 'Install' },
        { type: 'paragraph', text: 'Run the installer.' },
        { type: 'heading', level: 2, text: 'Configure' },
        { type: 'list_item', depth: 0, text: 'Set the port.' },
        { type: 'list_item', depth: 1, text: 'Or keep 8080.' },
        { type: 'heading', level: 1, text: 'Reference' },
        { type: 'paragraph', text: 'All options.' },
      ]),
      ids,
    );
    expect(chunks.map((c) => [c.headingPath, c.text])).toEqual([
      [['Guide', 'Install'], 'Guide\nInstall\nRun the installer.'],
      [['Guide', 'Configure'], 'Configure\n- Set the port.\n  - Or keep 8080.'],
      [['Reference'], 'Reference\nAll options.'],
    ]);
  });

  it('keeps every chunk within the token budget, overlap included, for prose, CJK, a token-less run and tables', () => {
    const blocks: Block[] = [
      { type: 'heading', level: 1, text: 'Mixed' },
      { type: 'paragraph', text: prose(0, 120) },
      { type: 'paragraph', text: '日本語の文章です。'.repeat(200) },
      { type: 'paragraph', text: 'QUJD'.repeat(3000) },
      { type: 'table', header: true, rows: [['name', 'value'], ...Array.from({ length: 200 }, (_, i) => [`row ${i}`, `${i * 3}`])] },
    ];
    for (const maxTokens of [64, 128, 256, 512]) {
      const chunks = chunkDocument(doc(blocks), { ...ids, maxTokens, overlapTokens: Math.floor(maxTokens / 8) });
      for (const c of chunks) {
        expect(c.tokens).toBe(countTokens(c.text));
        expect(c.tokens).toBeLessThanOrEqual(maxTokens);
      }
      const joined = chunks.map((c) => c.text).join('\n');
      expect(joined).toContain('Sentence number 119');
      expect(joined).toContain('row 199 | 597');
    }
  });

  it('repeats a table header at the top of every chunk the table spans', () => {
    const rows = [['city', 'population'], ...Array.from({ length: 120 }, (_, i) => [`City ${i}`, `${1000 + i}`])];
    const chunks = chunkDocument(doc([{ type: 'table', header: true, rows }]), { ...ids, maxTokens: 64, overlapTokens: 0 });
    expect(chunks.length).toBeGreaterThan(3);
    for (const c of chunks) expect(c.text.startsWith('city | population\n')).toBe(true);
  });

  it('overlaps a chunk cut for size with the last sentences of the one before', () => {
    const chunks = chunkDocument(doc([{ type: 'paragraph', text: prose(0, 60) }]), { ...ids, maxTokens: 128, overlapTokens: 32 });
    expect(chunks.length).toBeGreaterThan(2);
    for (let i = 1; i < chunks.length; i++) {
      const previous = (chunks[i - 1]?.text ?? '').replace(/\s+/g, ' ');
      const current = (chunks[i]?.text ?? '').replace(/\s+/g, ' ');
      // the longest run of leading sentences of this chunk that ends the previous one
      const leading = current.split(/(?<=\.) /);
      let overlap = '';
      for (let k = 1; k <= leading.length; k++) {
        const candidate = leading.slice(0, k).join(' ');
        if (previous.endsWith(candidate)) overlap = candidate;
      }
      expect(overlap).not.toBe('');
      expect(countTokens(overlap)).toBeLessThanOrEqual(32);
    }
    const none = chunkDocument(doc([{ type: 'paragraph', text: prose(0, 60) }]), { ...ids, maxTokens: 128, overlapTokens: 0 });
    expect(none.map((c) => c.text).join(' ')).toBe(prose(0, 60));
  });

  it('does not overlap across a heading', () => {
    const chunks = chunkDocument(doc([{ type: 'paragraph', text: 'Alpha text.' }, { type: 'heading', level: 1, text: 'Beta' }, { type: 'paragraph', text: 'Beta text.' }]), ids);
    expect(chunks.map((c) => c.text)).toEqual(['Alpha text.', 'Beta\nBeta text.']);
  });

  it('records the page range each chunk comes from', () => {
    const blocks: Block[] = [
      { type: 'paragraph', text: prose(0, 3), page: 1 },
      { type: 'page_break', page: 2 },
      { type: 'paragraph', text: prose(10, 3), page: 2 },
      { type: 'page_break', page: 3 },
      { type: 'paragraph', text: prose(20, 30), page: 3 },
    ];
    const chunks = chunkDocument(doc(blocks, 'pdf'), { ...ids, maxTokens: 256, overlapTokens: 32 });
    expect(chunks[0]).toMatchObject({ pageStart: 1, pageEnd: 2 });
    expect(chunks.at(-1)).toMatchObject({ pageStart: 3, pageEnd: 3 });
    for (const c of chunks) expect(c.pageStart).toBeLessThanOrEqual(c.pageEnd ?? 0);
    expect(chunkDocument(doc([{ type: 'paragraph', text: 'x' }]), ids)[0]).not.toHaveProperty('pageStart');
  });

  it('counts text that looks like special tokens as text', () => {
    const chunks = chunkDocument(doc([{ type: 'paragraph', text: 'a <|endoftext|> b <|fim_prefix|>' }]), ids);
    expect(chunks[0]?.text).toBe('a <|endoftext|> b <|fim_prefix|>');
    expect(chunks[0]?.tokens).toBeGreaterThan(4);
  });

  it('refuses budgets that cannot work', () => {
    const d = doc([{ type: 'paragraph', text: 'x' }]);
    expect(() => chunkDocument(d, { ...ids, maxTokens: 8 })).toThrow(RangeError);
    expect(() => chunkDocument(d, { ...ids, maxTokens: 100, overlapTokens: 50 })).toThrow(RangeError);
  });
});

describe('chunkDocument on text without spaces', () => {
  // gpt-tokenizer merges one pre-token (a run without spaces) quadratically:
  // 256 KiB of one letter took minutes before countTokens merged long runs
  // with a heap. 10 s is a guard against quadratic, not a timing claim (~0.5 s
  // here, the first call building the rank table included).
  const random = (n: number): string => {
    const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&()*+,-./:;<=>?@[]^_{|}~日本語é';
    let seed = 42;
    let s = '';
    while (s.length < n) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      s += chars[seed % chars.length];
    }
    return s;
  };
  for (const [name, text] of [
    ['256 KiB of one letter', 'a'.repeat(256 * 1024)],
    ['256 KiB of random non-space characters', random(256 * 1024)],
    ['256 KiB of one CJK character', '日'.repeat(256 * 1024)],
    ['256 KiB of one emoji (surrogate pairs)', '😀'.repeat(64 * 1024)],
  ] as const) {
    it(`chunks ${name} within the budget, in well under 10 s`, () => {
      const started = performance.now();
      const chunks = chunkDocument(doc([{ type: 'paragraph', text }]), ids);
      const elapsed = performance.now() - started;
      expect(chunks.length).toBeGreaterThan(10);
      for (const c of chunks) {
        expect(c.tokens).toBe(countTokens(c.text));
        expect(c.tokens).toBeLessThanOrEqual(256);
      }
      // every character is in some chunk (overlap repeats some), and no piece cuts a surrogate pair
      expect(chunks.map((c) => c.text).join('').length).toBeGreaterThanOrEqual(text.length);
      for (const c of chunks) expect(c.text.isWellFormed()).toBe(true);
      expect(elapsed).toBeLessThan(10_000);
    });
  }

  it('checks a budget without counting text too long to fit it (MAX_TOKEN_BYTES is the longest token)', () => {
    expect(Math.max(...bpeRanks.map((v) => (typeof v === 'string' ? Buffer.byteLength(v) : v.length)))).toBe(MAX_TOKEN_BYTES);
    expect(tokensWithin('The moon pulls the sea.', 6)).toBe(countTokens('The moon pulls the sea.'));
    expect(tokensWithin('The moon pulls the sea.', 5)).toBeUndefined();
    expect(tokensWithin(' '.repeat(4 * MAX_TOKEN_BYTES), 4)).toBe(4);
    expect(tokensWithin(' '.repeat(4 * MAX_TOKEN_BYTES + 1), 4)).toBeUndefined();
    const started = performance.now();
    expect(tokensWithin('b'.repeat(64 * 1024 * 1024), 256)).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('counts long runs exactly as gpt-tokenizer does', () => {
    const parts = ['a', 'é', '日', ' ', '\n', '.', '!', '1', "'s", '😀', '=', '\t', '\u00a0', '<|endoftext|>', 'ing'];
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let t = 0; t < 60; t++) {
      let s = '';
      while (s.length < 1500) s += (parts[next(parts.length)] ?? 'a').repeat(1 + next(t % 2 ? 400 : 3));
      expect(countTokens(s)).toBe(encode(s, { disallowedSpecial: new Set<string>() }).length);
    }
  });
});
