import type { EntityManager } from '@mikro-orm/postgresql';
import { RefreshTokenSchema } from './refresh-token.entity.ts';

export interface RefreshTokenRecord {
  readonly id: string;
  readonly familyId: string;
  readonly userId: string;
  readonly expiresAt: Date;
  readonly familyStartedAt: Date;
  readonly usedAt: Date | null;
  readonly usedBy: string | null;
  readonly revokedAt: Date | null;
}

export interface NewRefreshToken {
  readonly id: string;
  readonly tokenHash: string;
  readonly familyId: string;
  readonly userId: string;
  readonly expiresAt: Date;
  readonly familyStartedAt: Date;
}

interface ConsumedRow {
  id: string;
  family_id: string;
  user_id: string;
  expires_at: Date;
  family_started_at: Date;
}

/** The only place that touches `identity.refresh_tokens`. Tokens are known by their hash only. */
export function createRefreshTokenRepository(em: EntityManager) {
  return {
    async insert(token: NewRefreshToken): Promise<void> {
      await em.insert(RefreshTokenSchema, { ...token });
    },
    /**
     * Marks a live token used by `client` and returns it, in one statement:
     * of two concurrent refreshes with the same token exactly one wins. A
     * token whose family started at or before `familyStartedAfter` is dead
     * (the family's absolute lifetime).
     */
    async consume(tokenHash: string, at: Date, client: string, familyStartedAfter: Date): Promise<RefreshTokenRecord | null> {
      const rows = await em.execute<ConsumedRow[]>(
        `update "identity"."refresh_tokens" set "used_at" = ?, "used_by" = ?
          where "token_hash" = ? and "used_at" is null and "revoked_at" is null and "expires_at" > ? and "family_started_at" > ?
          returning "id", "family_id", "user_id", "expires_at", "family_started_at"`,
        [at, client, tokenHash, at, familyStartedAfter],
      );
      const row = rows[0];
      return row
        ? {
            id: row.id,
            familyId: row.family_id,
            userId: row.user_id,
            expiresAt: new Date(row.expires_at),
            familyStartedAt: new Date(row.family_started_at),
            usedAt: at,
            usedBy: client,
            revokedAt: null,
          }
        : null;
    },
    async findByHash(tokenHash: string): Promise<RefreshTokenRecord | null> {
      const row = await em.findOne(RefreshTokenSchema, { tokenHash }, { disableIdentityMap: true });
      return row
        ? {
            id: row.id,
            familyId: row.familyId,
            userId: row.userId,
            expiresAt: row.expiresAt,
            familyStartedAt: row.familyStartedAt,
            usedAt: row.usedAt ?? null,
            usedBy: row.usedBy ?? null,
            revokedAt: row.revokedAt ?? null,
          }
        : null;
    },
    /** Revokes every token of the family; returns how many were still unrevoked. */
    async revokeFamily(familyId: string, at: Date): Promise<number> {
      return em.nativeUpdate(RefreshTokenSchema, { familyId, revokedAt: null }, { revokedAt: at });
    },
    /**
     * Deletes at most `limit` refresh tokens that can never matter again
     * (see sessions.ts for the rule) and returns how many it deleted:
     * never spent and expired or revoked; or spent (used) and both expired
     * and from a family that started at or before `familyStartedBefore`.
     */
    async purgeBatch(now: Date, familyStartedBefore: Date, limit: number): Promise<number> {
      const rows = await em.execute<{ id: string }[]>(
        `delete from "identity"."refresh_tokens" where "id" in (
           select "id" from "identity"."refresh_tokens"
            where ("used_at" is null and ("expires_at" <= ? or "revoked_at" is not null))
               or ("used_at" is not null and "expires_at" <= ? and "family_started_at" <= ?)
            limit ? for update skip locked)
         returning "id"`,
        [now, now, familyStartedBefore, limit],
      );
      return rows.length;
    },
    /** Revokes every token of the user; returns the families that had unrevoked tokens. */
    async revokeAllForUser(userId: string, at: Date): Promise<string[]> {
      const rows = await em.execute<{ family_id: string }[]>(
        `update "identity"."refresh_tokens" set "revoked_at" = ? where "user_id" = ? and "revoked_at" is null returning "family_id"`,
        [at, userId],
      );
      return [...new Set(rows.map((r) => r.family_id))];
    },
  };
}

export type RefreshTokenRepository = ReturnType<typeof createRefreshTokenRepository>;
