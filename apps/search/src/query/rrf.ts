import { RRF_K } from './search-request.ts';

/** One hit of a ranked list: best first, `score` as that list defines it. */
export interface RankedHit {
  readonly id: string;
  readonly score: number;
}

/** Where a fused hit stood in one list (rank 1 = best). */
export interface ListPosition {
  readonly rank: number;
  readonly score: number;
}

export interface FusedHit<L extends string> {
  readonly id: string;
  /** Σ weight / (k + rank) over the lists the hit is in. */
  readonly score: number;
  readonly lists: Readonly<Partial<Record<L, ListPosition>>>;
}

export interface FusionList<L extends string> {
  readonly name: L;
  readonly weight: number;
  /** Best first; an id appearing twice keeps its first (best) place. */
  readonly hits: readonly RankedHit[];
}

/**
 * Weighted reciprocal rank fusion: a hit scores Σ weight / (k + rank) over
 * the lists it appears in (1-based ranks; a list of weight 0 contributes
 * nothing but still reports its rank). Order: fused score descending; ties
 * by the best rank in any list, then by the id — deterministic, whatever
 * order the lists came in.
 */
export function fuseRrf<L extends string>(lists: readonly FusionList<L>[], k: number = RRF_K): FusedHit<L>[] {
  if (!(k > 0)) throw new RangeError('RRF k must be positive');
  type Entry = { score: number; best: number; lists: Partial<Record<L, ListPosition>> };
  const byId = new Map<string, Entry>();
  for (const list of lists) {
    if (!(list.weight >= 0)) throw new RangeError(`weight of ${list.name} must be ≥ 0`);
    let rank = 0;
    const seen = new Set<string>();
    for (const hit of list.hits) {
      if (seen.has(hit.id)) continue;
      seen.add(hit.id);
      rank++;
      const entry: Entry = byId.get(hit.id) ?? { score: 0, best: Number.POSITIVE_INFINITY, lists: {} };
      entry.score += list.weight / (k + rank);
      entry.best = Math.min(entry.best, rank);
      entry.lists[list.name] = { rank, score: hit.score };
      byId.set(hit.id, entry);
    }
  }
  return [...byId.entries()]
    .sort(([a, x], [b, y]) => y.score - x.score || x.best - y.best || (a < b ? -1 : a > b ? 1 : 0))
    .map(([id, e]) => ({ id, score: e.score, lists: e.lists }));
}
