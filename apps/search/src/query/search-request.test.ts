import { ValidationError } from '@csda/errors';
import { describe, expect, it } from 'vitest';
import { parseSearchRequest, QUERY_MAX_CHARS, type SearchRequestInput } from './search-request.ts';

const DEFAULTS = { vector: 1, keyword: 1 };
const DOC = '3f2e1d0c-9b8a-4765-8432-10fedcba9876';
const base: SearchRequestInput = { query: 'what causes scurvy', mode: '', topK: undefined, minScore: undefined, documentIds: [], tags: [], weights: undefined };

/** The fields a refused request names. */
function refused(over: Partial<SearchRequestInput>): Record<string, string> {
  try {
    parseSearchRequest({ ...base, ...over }, DEFAULTS);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).code).toBe('VALIDATION_ERROR');
    return { ...(err as ValidationError).details };
  }
  throw new Error('request was accepted');
}

describe('parseSearchRequest', () => {
  it('fills the defaults: hybrid, top_k 10, no min_score, the operator’s weights; trims the query', () => {
    expect(parseSearchRequest({ ...base, query: '  scurvy \n' }, { vector: 0.7, keyword: 1.3 })).toEqual({
      text: 'scurvy',
      mode: 'hybrid',
      topK: 10,
      minScore: undefined,
      documentIds: [],
      tags: [],
      weights: { vector: 0.7, keyword: 1.3 },
    });
  });

  it('refuses an empty, blank, over-long or control-character query, naming query', () => {
    expect(refused({ query: '' })).toEqual({ query: 'must not be empty' });
    expect(refused({ query: ' \t\n ' })).toEqual({ query: 'must not be empty' });
    expect(refused({ query: 'x'.repeat(QUERY_MAX_CHARS + 1) })).toEqual({ query: `must be at most ${QUERY_MAX_CHARS} characters` });
    expect(refused({ query: 'a\u0000b' }).query).toMatch(/control/);
    expect(refused({ query: 'a\u001bb' }).query).toMatch(/control/);
  });

  it('counts characters, not UTF-16 units: 1,000 emoji are allowed', () => {
    expect(parseSearchRequest({ ...base, query: '🧬'.repeat(QUERY_MAX_CHARS) }, DEFAULTS).text).toHaveLength(2 * QUERY_MAX_CHARS);
  });

  it('refuses an unknown mode, accepting the three', () => {
    expect(refused({ mode: 'semantic' })).toEqual({ mode: 'must be one of vector, keyword, hybrid' });
    expect(refused({ mode: 'HYBRID' })).toHaveProperty('mode');
    for (const mode of ['vector', 'keyword', 'hybrid']) expect(parseSearchRequest({ ...base, mode }, DEFAULTS).mode).toBe(mode);
  });

  it('takes top_k from 1 to 100 only', () => {
    for (const topK of [0, -1, 101, 2.5, Number.NaN]) expect(refused({ topK })).toHaveProperty('top_k');
    expect(parseSearchRequest({ ...base, topK: 1 }, DEFAULTS).topK).toBe(1);
    expect(parseSearchRequest({ ...base, topK: 100 }, DEFAULTS).topK).toBe(100);
  });

  it('checks min_score against what the mode’s score means', () => {
    expect(refused({ mode: 'vector', minScore: 1.5 }).min_score).toMatch(/-1 to 1/);
    expect(refused({ mode: 'vector', minScore: -1.01 })).toHaveProperty('min_score');
    expect(parseSearchRequest({ ...base, mode: 'vector', minScore: -0.5 }, DEFAULTS).minScore).toBe(-0.5);
    expect(refused({ mode: 'keyword', minScore: -0.1 }).min_score).toMatch(/≥ 0 in keyword/);
    expect(parseSearchRequest({ ...base, mode: 'keyword', minScore: 12.5 }, DEFAULTS).minScore).toBe(12.5);
    expect(refused({ minScore: -0.001 }).min_score).toMatch(/hybrid/);
    expect(refused({ mode: 'hybrid', minScore: Number.POSITIVE_INFINITY })).toHaveProperty('min_score');
    expect(parseSearchRequest({ ...base, minScore: 0.02 }, DEFAULTS).minScore).toBe(0.02);
  });

  it('names the malformed document id by its index, and bounds the list', () => {
    expect(refused({ documentIds: [DOC, 'not-a-uuid'] })).toEqual({ 'filters.document_ids.1': 'must be a UUID' });
    expect(refused({ documentIds: [`${DOC}'; drop table x; --`] })).toHaveProperty('filters.document_ids.0');
    expect(refused({ documentIds: Array.from({ length: 101 }, () => DOC) })).toHaveProperty(['filters.document_ids']);
  });

  it('normalises document ids to lower case and drops duplicates', () => {
    expect(parseSearchRequest({ ...base, documentIds: [DOC.toUpperCase(), DOC] }, DEFAULTS).documentIds).toEqual([DOC]);
  });

  it('checks tags: 1–100 characters, no control characters, at most 20', () => {
    expect(refused({ tags: ['ok', ''] })).toHaveProperty(['filters.tags.1']);
    expect(refused({ tags: ['x'.repeat(101)] })).toHaveProperty(['filters.tags.0']);
    expect(refused({ tags: ['a\u0000'] })).toHaveProperty(['filters.tags.0']);
    expect(refused({ tags: Array.from({ length: 21 }, (_, i) => `t${i}`) })).toHaveProperty(['filters.tags']);
    expect(parseSearchRequest({ ...base, tags: ['b', 'a', 'b'] }, DEFAULTS).tags).toEqual(['b', 'a']);
  });

  it('checks weights: each 0–100, not both 0; unset ones keep the default', () => {
    expect(refused({ weights: { vector: -1, keyword: undefined } })).toEqual({ 'weights.vector': 'must be a number from 0 to 100' });
    expect(refused({ weights: { vector: 1, keyword: 101 } })).toHaveProperty(['weights.keyword']);
    expect(refused({ weights: { vector: 0, keyword: 0 } })).toEqual({ weights: 'vector and keyword must not both be 0' });
    expect(parseSearchRequest({ ...base, weights: { vector: 0, keyword: undefined } }, { vector: 1, keyword: 2 }).weights).toEqual({ vector: 0, keyword: 2 });
  });

  it('reports every bad field at once', () => {
    expect(Object.keys(refused({ query: '', mode: 'x', topK: 0, documentIds: ['1'], tags: [''] })).sort()).toEqual(
      ['filters.document_ids.0', 'filters.tags.0', 'mode', 'query', 'top_k'].sort(),
    );
  });
});
