import { randomUUID, type KeyObject } from 'node:crypto';
import { AuthenticationError } from '@csda/errors';
import { SignJWT, jwtVerify, type JWTPayload } from 'jose';
import type { Principal } from './permissions.ts';

/** Default `iss` of internal identity tokens. */
export const INTERNAL_TOKEN_ISSUER = 'csda-gateway';
/** Default `aud` of internal identity tokens. */
export const INTERNAL_TOKEN_AUDIENCE = 'csda-internal';
/** JWS `typ` header; keeps internal tokens apart from any other JWT. */
export const INTERNAL_TOKEN_TYPE = 'csda-internal+jwt';

const ALG = 'EdDSA';
const DEFAULT_TTL_SECONDS = 60;
const DEFAULT_CACHE_SIZE = 10_000;
const INVALID = 'Invalid internal identity token';

/** Options of {@link createInternalTokenSigner}. */
export interface InternalTokenSignerOptions {
  /** Ed25519 private key (see `parsePrivateKey`). */
  readonly privateKey: KeyObject;
  /** Token lifetime; default 60 s. */
  readonly ttlSeconds?: number;
  /** `iss` claim; default `csda-gateway`. */
  readonly issuer?: string;
  /** `aud` claim; default `csda-internal`. */
  readonly audience?: string;
  /** Most principals whose token is kept for reuse; default 10 000. */
  readonly cacheSize?: number;
  /** Clock in milliseconds; tests inject a fake one. */
  readonly now?: () => number;
}

/** Mints internal identity tokens. */
export interface InternalTokenSigner {
  /** A signed token naming `principal`; reused while more than half its lifetime is left. */
  sign(principal: Principal): Promise<string>;
}

/** Options of {@link createInternalTokenVerifier}. */
export interface InternalTokenVerifierOptions {
  /** Ed25519 public key (see `parsePublicKey`). */
  readonly publicKey: KeyObject;
  /** Expected `aud`; default `csda-internal`. */
  readonly audience?: string;
  /** Accepted `iss` value(s); default `csda-gateway`. */
  readonly issuer?: string | readonly string[];
  /** Allowed clock skew for `exp`; default 5 s. */
  readonly clockToleranceSeconds?: number;
  /** Most verified tokens remembered; default 10 000. */
  readonly cacheSize?: number;
  /** Clock in milliseconds; tests inject a fake one. */
  readonly now?: () => number;
}

/** Checks internal identity tokens. */
export interface InternalTokenVerifier {
  /** The principal a valid token names; throws `AuthenticationError` otherwise. */
  verify(token: string): Promise<Principal>;
}

interface SignedEntry {
  readonly token: Promise<string>;
  /** Reuse until this instant (ms): half the lifetime. */
  readonly renewAt: number;
}

interface VerifiedEntry {
  readonly principal: Principal;
  /** Token `exp` in ms. */
  readonly expiresAt: number;
}

/**
 * The gateway's signer: per call, a short-lived EdDSA (Ed25519) JWT naming
 * the principal, its roles and permissions. Signing costs CPU, so a token is
 * reused for an identical principal until less than half its lifetime is left.
 */
export function createInternalTokenSigner(options: InternalTokenSignerOptions): InternalTokenSigner {
  assertEd25519(options.privateKey, 'private');
  const ttl = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 2 || ttl > 3600) throw new RangeError('ttlSeconds must be an integer in 2..3600');
  const issuer = options.issuer ?? INTERNAL_TOKEN_ISSUER;
  const audience = options.audience ?? INTERNAL_TOKEN_AUDIENCE;
  const now = options.now ?? Date.now;
  const cache = new Map<string, SignedEntry>();
  const cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;

  async function mint(principal: Principal, iat: number): Promise<string> {
    return new SignJWT({
      name: principal.name,
      kind: principal.kind,
      roles: [...principal.roles],
      perms: [...principal.permissions],
    })
      .setProtectedHeader({ alg: ALG, typ: INTERNAL_TOKEN_TYPE })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(principal.id)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ttl)
      .setJti(randomUUID())
      .sign(options.privateKey);
  }

  return {
    sign(principal) {
      assertPrincipal(principal);
      const key = JSON.stringify([principal.kind, principal.id, principal.name, principal.roles, principal.permissions]);
      const at = now();
      const cached = cache.get(key);
      if (cached && at < cached.renewAt) return cached.token;
      const iat = Math.floor(at / 1000);
      const token = mint(principal, iat);
      cache.delete(key);
      cache.set(key, { token, renewAt: (iat + ttl / 2) * 1000 });
      evictOldest(cache, cacheSize);
      // A failed signature must not be served from the cache.
      token.catch(() => {
        if (cache.get(key)?.token === token) cache.delete(key);
      });
      return token;
    },
  };
}

/**
 * Every service's verifier: accepts only EdDSA tokens signed by the matching
 * Ed25519 key, with the expected issuer, audience and type, not expired.
 * Successful results are remembered (bounded LRU, until the token's `exp`) so
 * hot paths don't re-verify. Any failure is the same generic
 * `AuthenticationError`.
 */
export function createInternalTokenVerifier(options: InternalTokenVerifierOptions): InternalTokenVerifier {
  assertEd25519(options.publicKey, 'public');
  const audience = options.audience ?? INTERNAL_TOKEN_AUDIENCE;
  const issuer = options.issuer ?? INTERNAL_TOKEN_ISSUER;
  const issuers = typeof issuer === 'string' ? issuer : [...issuer];
  const clockTolerance = options.clockToleranceSeconds ?? 5;
  const now = options.now ?? Date.now;
  const cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
  const cache = new Map<string, VerifiedEntry>();

  return {
    async verify(token) {
      if (typeof token !== 'string' || token.length === 0 || token.length > 8192) throw new AuthenticationError(INVALID);
      const at = now();
      const hit = cache.get(token);
      if (hit) {
        cache.delete(token);
        if (at < hit.expiresAt) {
          cache.set(token, hit);
          return hit.principal;
        }
      }
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, options.publicKey, {
          algorithms: [ALG],
          typ: INTERNAL_TOKEN_TYPE,
          issuer: issuers,
          audience,
          clockTolerance,
          currentDate: new Date(at),
          requiredClaims: ['iss', 'aud', 'sub', 'iat', 'exp', 'jti'],
        }));
      } catch {
        throw new AuthenticationError(INVALID);
      }
      const principal = principalFromClaims(payload);
      if (!principal || typeof payload.exp !== 'number') throw new AuthenticationError(INVALID);
      cache.set(token, { principal, expiresAt: payload.exp * 1000 });
      evictOldest(cache, cacheSize);
      return principal;
    },
  };
}

function principalFromClaims(claims: JWTPayload): Principal | undefined {
  const { sub, name, kind, roles, perms } = claims;
  if (typeof sub !== 'string' || sub.length === 0 || typeof name !== 'string') return undefined;
  if (kind !== 'user' && kind !== 'service') return undefined;
  if (!isStringArray(roles) || !isStringArray(perms)) return undefined;
  return Object.freeze({ kind, id: sub, name, roles: Object.freeze([...roles]), permissions: Object.freeze([...perms]) });
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function assertPrincipal(principal: Principal): void {
  if (principal.kind !== 'user' && principal.kind !== 'service') throw new TypeError('Principal kind must be user or service');
  if (typeof principal.id !== 'string' || principal.id.length === 0) throw new TypeError('Principal id is required');
}

function assertEd25519(key: KeyObject, type: 'private' | 'public'): void {
  if (key?.type !== type || key.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(`Internal token ${type === 'private' ? 'signing' : 'verify'} key must be an Ed25519 ${type} key`);
  }
}

function evictOldest(map: Map<string, unknown>, max: number): void {
  while (map.size > max) {
    const oldest = map.keys().next();
    if (oldest.done) return;
    map.delete(oldest.value);
  }
}
