import { createSecretKey, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { sha256Hex } from '@csda/crypto';
import { AuthenticationError } from '@csda/errors';
import type { Principal } from '@csda/auth';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { z } from 'zod';

export const ACCESS_TOKEN_ISSUER = 'csda-gateway';
export const ACCESS_TOKEN_AUDIENCE = 'csda-api';
/** RFC 9068 media type, so no other HS256 JWT is ever taken for an access token. */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

/** Who a token is issued to: the user and their effective roles and permissions at issue time. */
export interface TokenSubject {
  readonly id: string;
  readonly username: string;
  readonly roles: readonly string[];
  readonly permissions: readonly string[];
}

export interface VerifiedAccessToken {
  readonly principal: Principal;
  /** Refresh-token family the token was issued with: logout and reuse revoke it. */
  readonly sessionId: string;
  /** Issue time in ms, compared with a user's revocation time. */
  readonly issuedAtMs: number;
}

export interface AccessTokens {
  readonly ttlSeconds: number;
  /**
   * `issuedAtMs` defaults to now; callers pass the time they read the
   * subject's roles, so a revocation after that read also kills this token.
   */
  sign(subject: TokenSubject, sessionId: string, issuedAtMs?: number): Promise<string>;
  /** Throws AUTHENTICATION_ERROR for anything but a well-formed, unexpired HS256 token of ours. */
  verify(token: string): Promise<VerifiedAccessToken>;
}

export interface AccessTokenOptions {
  /** At least 32 bytes (checked by config). */
  readonly secret: string | Uint8Array;
  readonly ttlSeconds: number;
  readonly now?: () => number;
}

const claimsSchema = z.object({
  sub: z.string().min(1),
  username: z.string(),
  roles: z.array(z.string()),
  perms: z.array(z.string()),
  sid: z.string().min(1),
  jti: z.string().min(1),
  iat_ms: z.number().int().nonnegative(),
});

/** Verified access tokens remembered at most (oldest evicted first). */
const VERIFIED_CACHE_SIZE = 10_000;

/** Short-lived HS256 access tokens (jose). The authenticated hot path trusts their claims. */
export function createAccessTokens(options: AccessTokenOptions): AccessTokens {
  const key: KeyObject = createSecretKey(typeof options.secret === 'string' ? Buffer.from(options.secret, 'utf8') : options.secret);
  const now = options.now ?? Date.now;
  const verified = new Map<string, { result: VerifiedAccessToken; expiresAtMs: number }>();
  return {
    ttlSeconds: options.ttlSeconds,
    async sign(subject, sessionId, issuedAtMs) {
      const nowMs = Math.min(issuedAtMs ?? now(), now());
      const iat = Math.floor(nowMs / 1000);
      return new SignJWT({ username: subject.username, roles: [...subject.roles], perms: [...subject.permissions], sid: sessionId, iat_ms: nowMs })
        .setProtectedHeader({ alg: 'HS256', typ: ACCESS_TOKEN_TYPE })
        .setSubject(subject.id)
        .setJti(randomUUID())
        .setIssuer(ACCESS_TOKEN_ISSUER)
        .setAudience(ACCESS_TOKEN_AUDIENCE)
        .setIssuedAt(iat)
        .setExpirationTime(iat + options.ttlSeconds)
        .sign(key);
    },
    async verify(token) {
      // Verified tokens are remembered until they expire: the hot path then skips HMAC and claim parsing.
      const cached = verified.get(token);
      if (cached && cached.expiresAtMs > now()) return cached.result;
      if (cached) verified.delete(token);
      let payload: unknown;
      try {
        ({ payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer: ACCESS_TOKEN_ISSUER,
          audience: ACCESS_TOKEN_AUDIENCE,
          typ: ACCESS_TOKEN_TYPE,
          requiredClaims: ['exp', 'iat', 'sub', 'jti'],
          currentDate: new Date(now()),
        }));
      } catch (err) {
        throw new AuthenticationError(err instanceof joseErrors.JWTExpired ? 'Access token expired' : 'Invalid access token');
      }
      const claims = claimsSchema.safeParse(payload);
      if (!claims.success) throw new AuthenticationError('Invalid access token');
      const c = claims.data;
      const result: VerifiedAccessToken = Object.freeze({
        principal: Object.freeze({ kind: 'user', id: c.sub, name: c.username, roles: Object.freeze(c.roles), permissions: Object.freeze(c.perms) }),
        sessionId: c.sid,
        issuedAtMs: c.iat_ms,
      });
      if (verified.size >= VERIFIED_CACHE_SIZE) verified.delete(verified.keys().next().value!);
      verified.set(token, { result, expiresAtMs: Number((payload as { exp: number }).exp) * 1000 });
      return result;
    },
  };
}

/** A fresh opaque refresh token: 256 random bits, url-safe. */
export function generateRefreshToken(): string {
  return randomBytes(32).toString('base64url');
}

/** What the database stores instead of the token. */
export function hashRefreshToken(token: string): string {
  return sha256Hex(token);
}
