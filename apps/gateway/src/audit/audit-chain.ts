import { sha256Hex } from '@csda/crypto';

/** `prev_hash` of the first row of the chain. */
export const CHAIN_GENESIS = '0'.repeat(64);

/** The columns a row's hash covers. */
export interface ChainFields {
  readonly eventId: string;
  readonly subject: string;
  readonly service: string;
  readonly action: string;
  readonly actor: string;
  readonly resourceType: string | null;
  readonly resourceId: string | null;
  readonly eventType: string;
  readonly payload: unknown;
  readonly occurredAt: Date;
}

/**
 * A row's hash: SHA-256 over the previous row's hash and the row's content in
 * a canonical form (JSON with sorted keys, so a jsonb round trip gives the
 * same bytes). Editing, deleting, inserting or reordering rows breaks the
 * chain at that row, which `audit verify` names.
 */
export function chainHash(prevHash: string, row: ChainFields): string {
  const content = canonicalJson([
    'csda-audit-v1',
    row.eventId,
    row.subject,
    row.service,
    row.action,
    row.actor,
    row.resourceType,
    row.resourceId,
    row.eventType,
    row.payload,
    row.occurredAt.getTime(),
  ]);
  return sha256Hex(`${prevHash}\n${content}`);
}

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** A stored row as `audit verify` reads it. */
export interface StoredChainRow extends ChainFields {
  readonly id: string;
  readonly prevHash: string;
  readonly hash: string;
}

/** The first broken link, or undefined when the rows continue the chain from `prevHash`. */
export function firstBrokenLink(rows: readonly StoredChainRow[], prevHash: string): { id: string; eventId: string; reason: string } | undefined {
  let prev = prevHash;
  for (const row of rows) {
    if (row.prevHash !== prev) return { id: row.id, eventId: row.eventId, reason: 'prev_hash does not match the previous row (a row before it was removed, inserted or rewritten)' };
    if (chainHash(prev, row) !== row.hash) return { id: row.id, eventId: row.eventId, reason: 'content does not match its hash (the row was edited)' };
    prev = row.hash;
  }
  return undefined;
}
