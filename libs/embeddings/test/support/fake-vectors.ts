/** The fake worker's deterministic unit vector for `text` (FNV-1a seeded). */
export function vectorOf(text: string, dims: number): Float32Array {
  const v = new Float32Array(dims);
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  for (let i = 0; i < dims; i++) {
    h = Math.imul(h ^ (h >>> 13), 0x5bd1e995);
    v[i] = ((h >>> 0) % 2001) / 1000 - 1;
  }
  let norm = 0;
  for (const x of v) norm += x * x;
  return v.map((x) => x / Math.sqrt(norm));
}
