import { randomUUID, type KeyObject } from 'node:crypto';
import { AuthenticationError } from '@csda/errors';
import { SignJWT, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import type { InternalSigningKey, InternalVerifyKeySet } from './key-set.ts';
import { USER_ISSUER, type OnBehalfOf, type Principal } from './permissions.ts';

/** JWS `typ` header; keeps internal tokens apart from any other JWT. */
export const INTERNAL_TOKEN_TYPE = 'csda-internal+jwt';

const ALG = 'EdDSA';
const DEFAULT_TTL_SECONDS = 60;
const DEFAULT_CACHE_SIZE = 10_000;
const INVALID = 'Invalid internal identity token';

/** Options of {@link createInternalTokenSigner}. */
export interface InternalTokenSignerOptions {
  /** This service's own key: its issuer name, key id and Ed25519 private key. */
  readonly key: InternalSigningKey;
  /** Token lifetime; default 60 s. */
  readonly ttlSeconds?: number;
  /** Most (principal, audience) pairs whose token is kept for reuse; default 10 000. */
  readonly cacheSize?: number;
  /** Clock in milliseconds; tests inject a fake one. */
  readonly now?: () => number;
}

/** Mints internal identity tokens. */
export interface InternalTokenSigner {
  /** This signer's issuer (the service it speaks for). */
  readonly issuer: string;
  /** Key id in every token's header. */
  readonly kid: string;
  /**
   * A signed token naming `principal` for the callee `audience` (a service
   * name); reused while more than half its lifetime is left.
   */
  sign(principal: Principal, audience: string): Promise<string>;
}

/** Options of {@link createInternalTokenVerifier}. */
export interface InternalTokenVerifierOptions {
  /** The verifying service's own name: the only `aud` it accepts. */
  readonly audience: string;
  /** Public keys by key id, each bound to its issuer (see `parseVerifyKeySet`). */
  readonly keys: InternalVerifyKeySet;
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
 * Why a principal may not be minted by `issuer`, or undefined when it may.
 * Only the gateway ({@link USER_ISSUER}) names users; every other issuer names
 * only itself, optionally acting for one user with an explicit scope. The
 * verifier applies the same rule, so a service key cannot mint a user even
 * with a hand-built token.
 */
export function issuerProblem(issuer: string, principal: Principal): string | undefined {
  if (principal.kind === 'user') {
    if (issuer !== USER_ISSUER) return `issuer ${issuer} may not name a user`;
    if (principal.onBehalfOf || principal.scope) return 'a user principal acts for nobody else';
    return undefined;
  }
  if (principal.id !== `service:${issuer}` || principal.name !== issuer) return `issuer ${issuer} may only name service:${issuer}`;
  if (principal.onBehalfOf && !(principal.scope && principal.scope.length > 0)) return 'acting for a user needs an explicit scope';
  return undefined;
}

/**
 * A service's signer: per call, a short-lived EdDSA (Ed25519) JWT naming the
 * principal and the callee. The header carries the key id, so verifiers can
 * hold old and new keys side by side. Signing costs CPU, so a token is reused
 * for an identical (principal, audience) until less than half its lifetime is left.
 */
export function createInternalTokenSigner(options: InternalTokenSignerOptions): InternalTokenSigner {
  const { key } = options;
  assertEd25519(key.privateKey, 'private');
  const ttl = options.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 2 || ttl > 3600) throw new RangeError('ttlSeconds must be an integer in 2..3600');
  const now = options.now ?? Date.now;
  const cache = new Map<string, SignedEntry>();
  const cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;

  async function mint(principal: Principal, audience: string, iat: number): Promise<string> {
    const claims: Record<string, unknown> = {
      name: principal.name,
      kind: principal.kind,
      roles: [...principal.roles],
      perms: [...principal.permissions],
    };
    if (principal.onBehalfOf) claims.obo = { sub: principal.onBehalfOf.id, name: principal.onBehalfOf.name, roles: [...principal.onBehalfOf.roles] };
    if (principal.scope) claims.scope = [...principal.scope];
    return new SignJWT(claims)
      .setProtectedHeader({ alg: ALG, typ: INTERNAL_TOKEN_TYPE, kid: key.kid })
      .setIssuer(key.issuer)
      .setAudience(audience)
      .setSubject(principal.id)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ttl)
      .setJti(randomUUID())
      .sign(key.privateKey);
  }

  return {
    issuer: key.issuer,
    kid: key.kid,
    sign(principal, audience) {
      assertPrincipal(principal);
      const problem = issuerProblem(key.issuer, principal);
      if (problem) throw new TypeError(`Cannot sign: ${problem}`);
      if (typeof audience !== 'string' || audience.length === 0) throw new TypeError('An audience (the callee service) is required');
      const cacheKey = JSON.stringify([audience, principal.kind, principal.id, principal.name, principal.roles, principal.permissions, principal.onBehalfOf ?? null, principal.scope ?? null]);
      const at = now();
      const cached = cache.get(cacheKey);
      if (cached && at < cached.renewAt) return cached.token;
      const iat = Math.floor(at / 1000);
      const token = mint(principal, audience, iat);
      cache.delete(cacheKey);
      cache.set(cacheKey, { token, renewAt: (iat + ttl / 2) * 1000 });
      evictOldest(cache, cacheSize);
      // A failed signature must not be served from the cache.
      token.catch(() => {
        if (cache.get(cacheKey)?.token === token) cache.delete(cacheKey);
      });
      return token;
    },
  };
}

/**
 * Every service's verifier: accepts only EdDSA tokens whose `kid` is in the
 * key set, whose `iss` is the issuer that key belongs to, whose `aud` is this
 * service, with the right type, not expired, and whose principal that issuer
 * may name (see {@link issuerProblem}). Successful results are remembered
 * (bounded LRU, until the token's `exp`). Any failure is the same generic
 * `AuthenticationError`.
 */
export function createInternalTokenVerifier(options: InternalTokenVerifierOptions): InternalTokenVerifier {
  if (options.keys.size === 0) throw new TypeError('The verify key set is empty');
  for (const entry of options.keys.values()) assertEd25519(entry.publicKey, 'public');
  const { audience } = options;
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
      let kid: unknown;
      try {
        kid = decodeProtectedHeader(token).kid;
      } catch {
        throw new AuthenticationError(INVALID);
      }
      const key = typeof kid === 'string' ? options.keys.get(kid) : undefined;
      if (!key) throw new AuthenticationError(INVALID);
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key.publicKey, {
          algorithms: [ALG],
          typ: INTERNAL_TOKEN_TYPE,
          issuer: key.issuer,
          audience,
          clockTolerance,
          currentDate: new Date(at),
          requiredClaims: ['iss', 'aud', 'sub', 'iat', 'exp', 'jti'],
        }));
      } catch {
        throw new AuthenticationError(INVALID);
      }
      const principal = principalFromClaims(payload);
      if (!principal || typeof payload.exp !== 'number' || issuerProblem(key.issuer, principal)) throw new AuthenticationError(INVALID);
      cache.set(token, { principal, expiresAt: payload.exp * 1000 });
      evictOldest(cache, cacheSize);
      return principal;
    },
  };
}

function principalFromClaims(claims: JWTPayload): Principal | undefined {
  const { sub, name, kind, roles, perms, obo, scope } = claims;
  if (typeof sub !== 'string' || sub.length === 0 || typeof name !== 'string') return undefined;
  if (kind !== 'user' && kind !== 'service') return undefined;
  if (!isStringArray(roles) || !isStringArray(perms)) return undefined;
  let onBehalfOf: OnBehalfOf | undefined;
  if (obo !== undefined) {
    const o = obo as Record<string, unknown>;
    if (!o || typeof o !== 'object' || typeof o.sub !== 'string' || o.sub.length === 0 || typeof o.name !== 'string' || !isStringArray(o.roles)) return undefined;
    onBehalfOf = Object.freeze({ id: o.sub, name: o.name, roles: Object.freeze([...o.roles]) });
  }
  if (scope !== undefined && !isStringArray(scope)) return undefined;
  return Object.freeze({
    kind,
    id: sub,
    name,
    roles: Object.freeze([...roles]),
    permissions: Object.freeze([...perms]),
    ...(onBehalfOf ? { onBehalfOf } : {}),
    ...(scope !== undefined ? { scope: Object.freeze([...scope]) } : {}),
  });
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
