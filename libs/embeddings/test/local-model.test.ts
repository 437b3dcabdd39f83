// The real local model (USE Lite from the installed package, TF.js WASM in a
// worker thread): identity, unit vectors, meaning, batch independence, inputs
// that are empty or far too long. No network is involved.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddingProvider, type EmbeddingProvider } from '../src/index.ts';

const dot = (a: Float32Array, b: Float32Array) => a.reduce((sum, x, i) => sum + x * b[i]!, 0);
let provider: EmbeddingProvider;

beforeAll(async () => {
  provider = createEmbeddingProvider({});
  await provider.ready!();
}, 60_000);
afterAll(() => provider.close());

describe('local model', () => {
  it('names the model with its package version and dimension', () => {
    expect(provider.model).toBe('local:use-lite-512@0.2.0');
    expect(provider.dimensions).toBe(512);
    expect(provider.maxInputTokens).toBe(128);
  });

  it('makes unit vectors whose cosine follows meaning', async () => {
    const [cat, kitten, bonds] = await provider.embed([
      'The cat sat on the mat.',
      'A kitten was resting on the rug.',
      'Government bond yields rose after the central bank raised interest rates.',
    ]);
    for (const v of [cat!, kitten!, bonds!]) {
      expect(v).toBeInstanceOf(Float32Array);
      expect(v).toHaveLength(512);
      expect(dot(v, v)).toBeCloseTo(1, 5);
    }
    expect(dot(cat!, kitten!)).toBeGreaterThan(dot(cat!, bonds!) + 0.2);
  });

  it('gives a text the same vector alone and inside a batch, in input order', async () => {
    const texts = ['Insulin regulates blood glucose.', '', 'x'.repeat(100_000), 'Mitochondria make ATP.', '☃ 😀 ünïcödé'];
    const batch = await provider.embed(texts);
    expect(batch).toHaveLength(texts.length);
    for (const [i, text] of texts.entries()) {
      const [alone] = await provider.embed([text]);
      expect(dot(alone!, batch[i]!)).toBeCloseTo(1, 4);
      expect(batch[i]!.every(Number.isFinite)).toBe(true);
    }
    expect(dot(batch[0]!, batch[3]!)).toBeLessThan(0.99); // distinct texts, distinct vectors
  });
});
