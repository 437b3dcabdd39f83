import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

/**
 * One refresh token, stored as its SHA-256 only. Tokens of one login share a
 * family; each refresh marks the presented token used and issues the next.
 */
export const RefreshTokenSchema = defineEntity({
  name: 'RefreshToken',
  tableName: 'refresh_tokens',
  schema: 'identity',
  properties: {
    id: p.uuid().primary(),
    tokenHash: p.text().unique(),
    familyId: p.uuid(),
    userId: p.uuid(),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()'),
    expiresAt: p.datetime().columnType('timestamptz'),
    usedAt: p.datetime().columnType('timestamptz').nullable(),
    revokedAt: p.datetime().columnType('timestamptz').nullable(),
    /** When the family's login happened: the family dies REFRESH_FAMILY_MAX_AGE_S after it, however often refreshed. */
    familyStartedAt: p.datetime().columnType('timestamptz').defaultRaw('now()'),
    /** Hash of the client (address and user agent) that spent the token (refresh-token.repository.ts). */
    usedBy: p.text().nullable(),
  },
});

export type RefreshToken = InferEntity<typeof RefreshTokenSchema>;
