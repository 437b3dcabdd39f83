import type { IdentityDeps } from '../context.ts';

/** Rows deleted per statement: short transactions, no long lock on the table. */
export const PURGE_BATCH = 5_000;

/**
 * Deletes refresh tokens that can never matter again (part of
 * cleanup-expired, called by the scheduler through PurgeSessions):
 *
 * - never spent, and expired or revoked: nothing can use it, and presenting it
 *   is just an invalid token (no reuse alarm depends on it);
 * - spent (rotated), only once it has expired AND its family is older than
 *   REFRESH_FAMILY_MAX_AGE_S. Reuse detection needs spent tokens: if a
 *   stolen token was refreshed first, the owner presenting the spent original
 *   is what revokes the thief's family. That stays possible for as long as
 *   the family can hold a live token, i.e. until its absolute lifetime ends,
 *   which is also long past REFRESH_REUSE_GRACE_S.
 *
 * Audited once per run, with the count, as the gateway's own action (the
 * audit log accepts no other service as a gateway event's actor) naming the caller.
 */
export function createSessionPurge(deps: Pick<IdentityDeps, 'repositories' | 'audit' | 'refreshFamilyMaxAgeSeconds'>) {
  return {
    async purge(nowMs: number, requestedBy: string): Promise<number> {
      const now = new Date(nowMs);
      // Without a configured family lifetime a family lives as long as its newest token: spent tokens are kept.
      const familyStartedBefore = new Date(deps.refreshFamilyMaxAgeSeconds === undefined ? 0 : nowMs - deps.refreshFamilyMaxAgeSeconds * 1000);
      const repos = deps.repositories();
      let purged = 0;
      for (;;) {
        const n = await repos.refreshTokens.purgeBatch(now, familyStartedBefore, PURGE_BATCH);
        purged += n;
        if (n < PURGE_BATCH) break;
      }
      await deps.audit({ action: 'sessions_purged', actor: 'service:gateway', outcome: 'success', resourceType: 'refresh_token', details: { purged: String(purged), before: now.toISOString(), requested_by: requestedBy } });
      return purged;
    },
  };
}

export type SessionPurge = ReturnType<typeof createSessionPurge>;
