import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LOCAL_MODEL_VECTOR_WEIGHT, queryConfigShape, querySettingsOf } from './query-config.ts';

const parse = (env: Record<string, string>) => z.object(queryConfigShape).parse(env);

describe('hybrid default weights', () => {
  it('favour keywords with the local model, weigh both alike with others, and follow the settings when given', () => {
    expect(querySettingsOf(parse({}), 'local:use-lite-512@0.2.0').defaultWeights).toEqual({ vector: LOCAL_MODEL_VECTOR_WEIGHT, keyword: 1 });
    expect(querySettingsOf(parse({}), 'openai:text-embedding-3-small@1536').defaultWeights).toEqual({ vector: 1, keyword: 1 });
    expect(querySettingsOf(parse({ SEARCH_HYBRID_WEIGHT_VECTOR: '2' }), 'local:use-lite-512@0.2.0').defaultWeights).toEqual({ vector: 2, keyword: 1 });
    expect(() => querySettingsOf(parse({ SEARCH_HYBRID_WEIGHT_VECTOR: '0', SEARCH_HYBRID_WEIGHT_KEYWORD: '0' }), 'openai:x@8')).toThrow(/must not both be 0/);
  });
});
