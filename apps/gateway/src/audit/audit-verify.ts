import { CHAIN_GENESIS, firstBrokenLink } from './audit-chain.ts';
import type { AuditLogRepository } from './audit-log.repository.ts';

export interface ChainVerdict {
  /** Rows checked (up to and including a broken one). */
  readonly rows: number;
  /** Hash of the last intact row: record it elsewhere to anchor the chain. */
  readonly head: string;
  readonly broken?: { readonly id: string; readonly eventId: string; readonly reason: string };
}

/** Recomputes the whole chain of `identity.audit_log` in id order and names the first broken link. */
export async function verifyAuditChain(repository: () => Pick<AuditLogRepository, 'chainPage'>, pageSize = 1_000): Promise<ChainVerdict> {
  let prev = CHAIN_GENESIS;
  let after = '0';
  let rows = 0;
  for (;;) {
    const page = await repository().chainPage(after, pageSize);
    if (page.length === 0) return { rows, head: prev };
    const broken = firstBrokenLink(page, prev);
    if (broken) {
      const index = page.findIndex((r) => r.id === broken.id);
      return { rows: rows + index + 1, head: index > 0 ? page[index - 1]!.hash : prev, broken };
    }
    rows += page.length;
    prev = page[page.length - 1]!.hash;
    after = page[page.length - 1]!.id;
  }
}
