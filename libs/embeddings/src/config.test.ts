import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { checkEmbeddingConfig, createEmbeddingProvider, embeddingConfigShape, parseEmbeddingConfig } from './config.ts';
import { EmbeddingConfigError } from './errors.ts';

const problems = (env: Record<string, unknown>) => {
  try {
    parseEmbeddingConfig(env);
  } catch (err) {
    if (err instanceof EmbeddingConfigError) return err.problems;
    throw err;
  }
  return [];
};

const openai = { EMBEDDING_PROVIDER: 'openai', EMBEDDING_OPENAI_BASE_URL: 'http://127.0.0.1:1', EMBEDDING_OPENAI_MODEL: 'm', EMBEDDING_DIMENSIONS: '8' };

describe('embedding config', () => {
  it('defaults to the local model, one thread, and ignores empty values and other variables', () => {
    const config = parseEmbeddingConfig({ EMBEDDING_THREADS: '', DATABASE_URL: 'postgres://x' });
    expect(config).toMatchObject({ EMBEDDING_PROVIDER: 'local', EMBEDDING_THREADS: 1, EMBEDDING_RETRIES: 3, EMBEDDING_OPENAI_SEND_DIMENSIONS: true });
    expect(config).not.toHaveProperty('DATABASE_URL');
  });

  it('names every bad variable at once', () => {
    const found = problems({
      EMBEDDING_PROVIDER: 'cohere',
      EMBEDDING_THREADS: '0',
      EMBEDDING_TIMEOUT_MS: 'soon',
      EMBEDDING_OPENAI_BASE_URL: 'ftp://x',
      EMBEDDING_OPENAI_SEND_DIMENSIONS: 'maybe',
      EMBEDDING_RETRIES: '11',
    });
    for (const key of ['EMBEDDING_PROVIDER', 'EMBEDDING_THREADS', 'EMBEDDING_TIMEOUT_MS', 'EMBEDDING_OPENAI_BASE_URL', 'EMBEDDING_OPENAI_SEND_DIMENSIONS', 'EMBEDDING_RETRIES']) {
      expect(found.some((p) => p.startsWith(`${key}:`)), key).toBe(true);
    }
  });

  it('requires base URL, model and dimensions for openai, and one key source at most', () => {
    const found = problems({ EMBEDDING_PROVIDER: 'openai', EMBEDDING_OPENAI_API_KEY: 'sk-secret-value', EMBEDDING_OPENAI_API_KEY_SECRET_ID: 'abc' });
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^EMBEDDING_OPENAI_BASE_URL: required/),
        expect.stringMatching(/^EMBEDDING_OPENAI_MODEL: required/),
        expect.stringMatching(/^EMBEDDING_DIMENSIONS: required/),
        expect.stringMatching(/^EMBEDDING_OPENAI_API_KEY_SECRET_ID: set either/),
      ]),
    );
    expect(found.join('\n')).not.toContain('sk-secret-value');
    expect(problems({ ...openai, EMBEDDING_OPENAI_BASE_URL: 'https://user:pw@example.test/v1' })).toEqual([
      expect.stringMatching(/^EMBEDDING_OPENAI_BASE_URL: must not hold credentials/),
    ]);
  });

  it('holds the local model to 512 dimensions and batches of 32', () => {
    expect(problems({ EMBEDDING_DIMENSIONS: '768', EMBEDDING_BATCH: '64' })).toEqual([
      expect.stringMatching(/^EMBEDDING_DIMENSIONS: the local model makes 512/),
      expect.stringMatching(/^EMBEDDING_BATCH: at most 32/),
    ]);
    expect(problems({ ...openai, EMBEDDING_BATCH: '512' })).toEqual([]);
  });

  it('accepts already-parsed values (numbers, booleans)', () => {
    expect(parseEmbeddingConfig({ ...openai, EMBEDDING_DIMENSIONS: 8, EMBEDDING_OPENAI_SEND_DIMENSIONS: false })).toMatchObject({
      EMBEDDING_DIMENSIONS: 8,
      EMBEDDING_OPENAI_SEND_DIMENSIONS: false,
    });
  });

  it('spreads into a service schema with the same rules', () => {
    const schema = z.object({ PORT: z.coerce.number(), ...embeddingConfigShape }).superRefine(checkEmbeddingConfig);
    const result = schema.safeParse({ PORT: '1', EMBEDDING_PROVIDER: 'openai' });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path[0])).toEqual(expect.arrayContaining(['EMBEDDING_OPENAI_BASE_URL', 'EMBEDDING_OPENAI_MODEL']));
  });

  it('builds an openai provider named by model and dimension, and needs resolveApiKey for a vault secret', async () => {
    const provider = createEmbeddingProvider({ ...openai, EMBEDDING_OPENAI_MODEL: 'text-embedding-3-small', EMBEDDING_DIMENSIONS: '1536' });
    expect(provider.model).toBe('openai:text-embedding-3-small@1536');
    expect(provider.dimensions).toBe(1536);
    expect(provider.maxInputTokens).toBe(8191);
    await provider.close();
    expect(() => createEmbeddingProvider({ ...openai, EMBEDDING_OPENAI_API_KEY_SECRET_ID: 'key-id' })).toThrow(/EMBEDDING_OPENAI_API_KEY_SECRET_ID: set, but/);
  });
});
