import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { locateModelFiles } from './model-files.ts';
import { Tokenizer, type Vocabulary } from './tokenizer.ts';

const vocabulary = JSON.parse(readFileSync(join(locateModelFiles().dir, 'vocab.json'), 'utf8')) as Vocabulary;
const tokenizer = new Tokenizer(vocabulary);

describe('USE Lite tokenizer', () => {
  it('gives the reference implementation’s ids', () => {
    // Recorded from TF.js models' tokenizer (as shipped in @energetic-ai/embeddings 0.2.0).
    expect(tokenizer.encode('Hello world.')).toEqual([341, 4125, 311, 6]);
    expect(tokenizer.encode('Cells were stained with DAPI (e.g. Fig. 2).')).toEqual([
      177, 1809, 7, 113, 977, 97, 26, 28, 239, 2583, 109, 44, 59, 6, 143, 6, 189, 682, 6, 4365, 6,
    ]);
  });

  it('maps unknown characters to 0 and merges runs of them', () => {
    expect(tokenizer.encode('☃☃ snow ☃')).toEqual([30, 0, 3882, 30, 0]);
    expect(tokenizer.encode('')).toEqual([]);
  });

  it('stops at maxTokens and stays linear on a long input', () => {
    expect(tokenizer.encode('Hello world.', 2)).toEqual([341, 4125]);
    const started = performance.now();
    const ids = tokenizer.encode('word '.repeat(40_000));
    expect(ids.length).toBeGreaterThan(40_000);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
