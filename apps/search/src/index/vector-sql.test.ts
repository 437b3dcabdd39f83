import { describe, expect, it } from 'vitest';
import { createIndexSql, queryVectorExpr, vectorExpr, vectorIndexFor, vectorLiteral, vectorType, VECTOR_INDEXES } from './vector-sql.ts';

describe('vector SQL', () => {
  it('gives the exact expressions the HNSW indexes are built on', () => {
    expect(vectorExpr(512)).toBe('(embedding::vector(512))');
    expect(vectorExpr(1536, 'p.embedding')).toBe('(p.embedding::halfvec(1536))');
    expect(queryVectorExpr(512, '$3')).toBe('$3::vector(512)');
    expect(queryVectorExpr(1536)).toBe('?::halfvec(1536)');
    expect(createIndexSql(VECTOR_INDEXES[1]!, { m: 24, efConstruction: 100 }, { concurrently: true })).toBe(
      'create index concurrently "passages_embedding_1536_hnsw" on "search"."passages" using hnsw ((embedding::halfvec(1536)) halfvec_cosine_ops) with (m = 24, ef_construction = 100) where "dims" = 1536',
    );
  });

  it('searches other dimensions exactly (no index) and refuses what is not a dimension or a column', () => {
    expect(vectorIndexFor(384)).toBeUndefined();
    expect(vectorType(384)).toBe('vector(384)');
    expect(() => vectorType(0)).toThrow(RangeError);
    expect(() => vectorType(16_001)).toThrow(RangeError);
    expect(() => vectorType(1.5)).toThrow(RangeError);
    expect(() => vectorExpr(512, 'embedding); drop table x; --')).toThrow(/not a column reference/);
  });

  it('writes literals that read back as the same float32 values', () => {
    const v = Float32Array.from([0.1, -2e-7, 1, 65_504, 0, 0.333333343, -1.5e-30]);
    const text = vectorLiteral(v);
    expect(text.startsWith('[') && text.endsWith(']')).toBe(true);
    expect(Float32Array.from(JSON.parse(text) as number[])).toEqual(v);
    expect(vectorLiteral([])).toBe('[]');
  });
});
