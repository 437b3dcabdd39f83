// How passage vectors are stored and indexed, in one place: the HNSW indexes
// (vector-indexes.ts) are built on exactly the expressions below, and a query
// must use the same ones (with `dims = <n>` in its WHERE) for PostgreSQL to
// choose the index.

/** One HNSW index on search.passages: a partial expression index over the rows of one dimension. */
export interface VectorIndexSpec {
  readonly dims: number;
  /** `vector` (float32) or `halfvec` (float16: half the index size, where the dimension makes it worthwhile). */
  readonly type: 'vector' | 'halfvec';
  readonly opclass: 'vector_cosine_ops' | 'halfvec_cosine_ops';
  readonly name: string;
}

export const VECTOR_INDEXES: readonly VectorIndexSpec[] = [
  { dims: 512, type: 'vector', opclass: 'vector_cosine_ops', name: 'passages_embedding_512_hnsw' },
  { dims: 1536, type: 'halfvec', opclass: 'halfvec_cosine_ops', name: 'passages_embedding_1536_hnsw' },
];

/** pgvector's limit for `vector` columns. */
export const MAX_DIMENSIONS = 16_000;

function checkDims(dims: number): number {
  if (!Number.isInteger(dims) || dims < 1 || dims > MAX_DIMENSIONS) throw new RangeError(`dimensions must be an integer in 1..${MAX_DIMENSIONS}, got ${dims}`);
  return dims;
}

/** The index that serves `dims`, if any (other dimensions are searched exactly). */
export function vectorIndexFor(dims: number): VectorIndexSpec | undefined {
  return VECTOR_INDEXES.find((s) => s.dims === dims);
}

/** The SQL type vectors of `dims` are compared as: `vector(512)`, `halfvec(1536)`. */
export function vectorType(dims: number): string {
  return `${vectorIndexFor(checkDims(dims))?.type ?? 'vector'}(${dims})`;
}

/**
 * The expression over a passage's embedding that the HNSW index of `dims`
 * is built on, e.g. `(embedding::vector(512))`; `column` may be qualified
 * (`p.embedding`). Use it with `<=>` (cosine distance) and `dims = <dims>`:
 *   where p.dims = 512 order by (p.embedding::vector(512)) <=> ?::vector(512)
 */
export function vectorExpr(dims: number, column = 'embedding'): string {
  if (!/^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/i.test(column)) throw new RangeError(`not a column reference: ${column}`);
  return `(${column}::${vectorType(dims)})`;
}

/** A query vector parameter cast to the same type: `?::vector(512)` (pass {@link vectorLiteral} as its value). */
export function queryVectorExpr(dims: number, placeholder = '?'): string {
  return `${placeholder}::${vectorType(dims)}`;
}

/**
 * pgvector's text form of a vector: `[0.100000001,-2.00000000e-7,…]`. Nine
 * significant digits give back the exact float32; toPrecision is the
 * cheapest formatting there is (a 10,000-chunk document has millions of them).
 */
export function vectorLiteral(vector: Float32Array | readonly number[]): string {
  let out = '[';
  for (let i = 0; i < vector.length; i++) {
    if (i > 0) out += ',';
    out += (vector[i] as number).toPrecision(9);
  }
  return `${out}]`;
}

/** `CREATE INDEX` for `spec` with the given HNSW build parameters. */
export function createIndexSql(spec: VectorIndexSpec, params: { m: number; efConstruction: number }, options: { name?: string; concurrently?: boolean } = {}): string {
  const m = Math.trunc(params.m);
  const ef = Math.trunc(params.efConstruction);
  return (
    `create index ${options.concurrently ? 'concurrently ' : ''}"${options.name ?? spec.name}" on "search"."passages" ` +
    `using hnsw (${vectorExpr(spec.dims)} ${spec.opclass}) with (m = ${m}, ef_construction = ${ef}) where "dims" = ${spec.dims}`
  );
}
