import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { sha256Hex } from '@csda/crypto';
import { AuthenticationError, AuthorizationError, RateLimitedError } from '@csda/errors';
import type { Principal } from '@csda/auth';
import type { AuditFact } from '@csda/service-kit';
import type { IdentityDeps, RequestContext } from '../context.ts';
import { assertPasswordPolicy } from '../passwords.ts';
import { normalizeLogin, type LoginAccount } from './login-throttle.ts';
import type { IdentityRepositories } from '../repositories.ts';
import { permissionsOf } from '../roles/role.permissions.ts';
import { tokenSubject } from './subject.ts';
import { clientKey } from './client-key.ts';
import type { RefreshTokenRecord } from './refresh-token.repository.ts';
import { generateRefreshToken, hashRefreshToken } from './tokens.ts';
import type { UserRecord } from '../users/user.repository.ts';

export interface TokenPair {
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly expiresIn: number;
}

export interface Registration {
  readonly username: string;
  readonly email: string;
  readonly password: string;
}

/** The role a self-registered user gets. */
export const DEFAULT_ROLE = 'USER';

const INVALID_CREDENTIALS = 'Invalid credentials';
const INVALID_REFRESH_TOKEN = 'Invalid refresh token';

/**
 * What `login_failed` records of a login naming no account: a SHA-256 prefix
 * of the normalized login, never the text (it may be a password typed into
 * the wrong field). Enough to correlate attempts on one name.
 */
export const loginHash = (login: string) => sha256Hex(normalizeLogin(login)).slice(0, 16);

type AuthDeps = Pick<
  IdentityDeps,
  | 'repositories'
  | 'passwords'
  | 'accessTokens'
  | 'rateLimiter'
  | 'revocation'
  | 'audit'
  | 'refreshTokenTtlSeconds'
  | 'refreshFamilyMaxAgeSeconds'
  | 'refreshReuseGraceSeconds'
  | 'registrationEnabled'
  | 'now'
>;

/** A refresh-token family: its id and when its login happened (its absolute lifetime runs from there). */
interface Family {
  readonly id: string;
  readonly startedAt: Date;
}

/**
 * Who spends a refresh token, as far as the grace window is concerned: the
 * client's address (its /64 for IPv6, see clientKey) and user agent, hashed.
 */
export const refreshClient = (ctx: RequestContext) =>
  sha256Hex(`${clientKey(ctx.ip)}\n${ctx.userAgent ?? ''}`);

/** Register, login, refresh (rotation with reuse detection), logout, me. No transport, no SQL. */
export function createAuthService(deps: AuthDeps) {
  const { audit, now } = deps;

  const familyMaxAgeMs = deps.refreshFamilyMaxAgeSeconds === undefined ? undefined : deps.refreshFamilyMaxAgeSeconds * 1000;
  const graceMs = (deps.refreshReuseGraceSeconds ?? 0) * 1000;

  /** A new refresh token in `family` (never outliving the family) and an access token read at `readAtMs`. */
  const issue = async (repos: IdentityRepositories, user: UserRecord, family: Family, readAtMs: number): Promise<TokenPair> => {
    const roles = await repos.roles.findByNames(user.roles);
    const refreshToken = generateRefreshToken();
    const sliding = now() + deps.refreshTokenTtlSeconds * 1000;
    await repos.refreshTokens.insert({
      id: randomUUID(),
      tokenHash: hashRefreshToken(refreshToken),
      familyId: family.id,
      userId: user.id,
      familyStartedAt: family.startedAt,
      expiresAt: new Date(familyMaxAgeMs === undefined ? sliding : Math.min(sliding, family.startedAt.getTime() + familyMaxAgeMs)),
    });
    const accessToken = await deps.accessTokens.sign(tokenSubject(user, roles), family.id, readAtMs);
    return { accessToken, refreshToken, expiresIn: deps.accessTokens.ttlSeconds };
  };

  // A known account is named by its username; an unknown login only by a hash.
  const loginFailed = (login: string, ctx: RequestContext, reason: string, user: UserRecord | null) =>
    audit({
      action: 'login_failed',
      actor: 'anonymous',
      outcome: 'failure',
      ...(user ? { resourceType: 'user', resourceId: user.id } : {}),
      ip: ctx.ip,
      requestId: ctx.requestId,
      details: { ...(user ? { username: user.username } : { username_hash: loginHash(login) }), reason },
    });

  /**
   * Revokes a refresh family under its user's lock, so a refresh in flight
   * cannot add to it afterwards; `record` is audited in the same transaction.
   */
  const revokeFamily = async (repos: IdentityRepositories, userId: string, familyId: string, record: AuditFact) => {
    await repos.transaction(async (tx) => {
      await tx.users.lockForUpdate(userId);
      await tx.refreshTokens.revokeFamily(familyId, new Date(now()));
      await tx.audit(record);
    });
    await deps.revocation.revokeSessions([familyId]);
  };

  /**
   * The token, when `client` spent it less than the grace window ago and its
   * family is still alive: a concurrent or retried refresh, not a replay.
   * Read under the owner's lock (so the first refresh has committed).
   */
  const graceReplay = async (tx: IdentityRepositories, tokenHash: string, at: Date, client: string, bornAfter: Date): Promise<RefreshTokenRecord | null> => {
    if (graceMs <= 0) return null;
    const spent = await tx.refreshTokens.findByHash(tokenHash);
    if (!spent?.usedAt || spent.revokedAt || spent.usedBy !== client) return null;
    const sinceMs = at.getTime() - spent.usedAt.getTime();
    return sinceMs >= 0 && sinceMs <= graceMs && spent.familyStartedAt > bornAfter ? spent : null;
  };

  return {
    async register(input: Registration, ctx: RequestContext): Promise<UserRecord> {
      if (!deps.registrationEnabled) throw new AuthorizationError('Registration is disabled');
      assertPasswordPolicy(input.password);
      const passwordHash = await deps.passwords.hash(input.password);
      return deps.repositories().transaction(async (tx) => {
        const user = await tx.users.create({ id: randomUUID(), username: input.username, email: input.email, passwordHash, isActive: true, roles: [DEFAULT_ROLE] });
        await tx.audit({ action: 'user_registered', actor: user.id, actorName: user.username, resourceType: 'user', resourceId: user.id, ip: ctx.ip, requestId: ctx.requestId });
        return user;
      });
    },

    /**
     * One uniform failure for unknown user, wrong password and inactive user,
     * in about the same time (a dummy hash is verified when no user matches).
     */
    async login(login: string, password: string, ctx: RequestContext): Promise<TokenPair> {
      const repos = deps.repositories();
      const found = await repos.users.findByLogin(login);
      // A known account is counted as one, whether named by username or email.
      const account: LoginAccount = found ? { userId: found.id } : { login };
      let slowMs: number;
      try {
        ({ slowMs } = await deps.rateLimiter.check(account, ctx.ip));
      } catch (err) {
        if (err instanceof RateLimitedError) await loginFailed(login, ctx, 'rate_limited', found);
        throw err;
      }
      // Over the account's failure ceiling, a known-good client is slowed, not refused (login-throttle.ts).
      if (slowMs > 0) await delay(slowMs);
      const passwordOk = found ? await deps.passwords.verify(found.passwordHash, password) : await deps.passwords.verifyDummy(password);
      const refused = !found ? 'unknown_user' : !passwordOk ? 'bad_password' : !found.isActive ? 'inactive' : null;
      // Issue under the user's lock, from a fresh read: a password change,
      // deactivation or deletion that committed since the checks above wins.
      const outcome =
        !found || refused
          ? { refused: refused ?? 'unknown_user' }
          : await repos.transaction(async (tx) => {
              if (!(await tx.users.lockForUpdate(found.id))) return { refused: 'unknown_user' };
              const readAtMs = now();
              const user = await tx.users.findById(found.id);
              if (!user) return { refused: 'unknown_user' };
              if (user.passwordHash !== found.passwordHash) return { refused: 'bad_password' };
              if (!user.isActive) return { refused: 'inactive' };
              await tx.users.recordLogin(user.id, new Date(readAtMs));
              const pair = await issue(tx, user, { id: randomUUID(), startedAt: new Date(readAtMs) }, readAtMs);
              await tx.audit({ action: 'login_succeeded', actor: user.id, actorName: user.username, resourceType: 'user', resourceId: user.id, ip: ctx.ip, requestId: ctx.requestId });
              return { user, pair };
            });
      if (!('pair' in outcome)) {
        await deps.rateLimiter.failed(account, ctx.ip);
        await loginFailed(login, ctx, outcome.refused, found);
        throw new AuthenticationError(INVALID_CREDENTIALS);
      }
      // Best effort: failures that outlive a good login only make that client's next wait longer.
      await deps.rateLimiter.succeeded(account, ctx.ip).catch(() => undefined);
      return outcome.pair;
    },

    /**
     * Rotates: the presented token is marked used and a new one issued in the
     * same family. A spent token presented again means it was copied: the
     * whole family (and its access tokens) is revoked and the reuse audited.
     * Two exceptions, both as mature providers do it (Auth0's rotation "reuse
     * interval", Okta's grace period): the SAME client (address and user
     * agent) presenting the token again within REFRESH_REUSE_GRACE_S of
     * spending it (two tabs refreshing at once, a retried request) gets a
     * sibling token in the same family instead of an alarm; and no family
     * outlives REFRESH_FAMILY_MAX_AGE_S from its login, however often it is
     * refreshed (its tokens then simply stop working).
     */
    async refresh(refreshToken: string, ctx: RequestContext): Promise<TokenPair> {
      const tokenHash = hashRefreshToken(refreshToken);
      const client = refreshClient(ctx);
      const repos = deps.repositories();
      const outcome = await repos.transaction(async (tx) => {
        // Lock the owner before touching the token: user changes (password,
        // deactivation, roles, deletion) take the same lock before revoking,
        // so a refresh either completes before them (and its new token is
        // revoked with the rest) or runs after them (and finds its token revoked).
        const owner = await tx.refreshTokens.findByHash(tokenHash);
        if (!owner || !(await tx.users.lockForUpdate(owner.userId))) return { kind: 'invalid' as const };
        const at = new Date(now());
        const bornAfter = new Date(familyMaxAgeMs === undefined ? 0 : at.getTime() - familyMaxAgeMs);
        const consumed = (await tx.refreshTokens.consume(tokenHash, at, client, bornAfter)) ?? (await graceReplay(tx, tokenHash, at, client, bornAfter));
        if (!consumed) return { kind: 'invalid' as const };
        const readAtMs = now();
        const user = await tx.users.findById(consumed.userId);
        if (!user || !user.isActive) {
          await tx.refreshTokens.revokeFamily(consumed.familyId, at);
          return { kind: 'invalid' as const };
        }
        return { kind: 'issued' as const, pair: await issue(tx, user, { id: consumed.familyId, startedAt: consumed.familyStartedAt }, readAtMs) };
      });
      if (outcome.kind === 'issued') return outcome.pair;

      const known = await repos.refreshTokens.findByHash(tokenHash);
      if (known?.usedAt) {
        await revokeFamily(repos, known.userId, known.familyId, {
          action: 'refresh_token_reused',
          actor: known.userId,
          outcome: 'failure',
          resourceType: 'user',
          resourceId: known.userId,
          ip: ctx.ip,
          requestId: ctx.requestId,
          details: { family_id: known.familyId },
        });
      }
      throw new AuthenticationError(INVALID_REFRESH_TOKEN);
    },

    /** Revokes the token's whole family, and the access tokens issued with it. */
    async logout(refreshToken: string, ctx: RequestContext): Promise<void> {
      const repos = deps.repositories();
      const known = await repos.refreshTokens.findByHash(hashRefreshToken(refreshToken));
      if (!known) throw new AuthenticationError(INVALID_REFRESH_TOKEN);
      await revokeFamily(repos, known.userId, known.familyId, {
        action: 'logout',
        actor: known.userId,
        resourceType: 'user',
        resourceId: known.userId,
        ip: ctx.ip,
        requestId: ctx.requestId,
        details: { family_id: known.familyId },
      });
    },

    /** The caller's current account and effective permissions, read fresh. */
    async me(principal: Principal): Promise<{ user: UserRecord; permissions: string[] }> {
      const repos = deps.repositories();
      const user = await repos.users.findById(principal.id);
      if (!user || !user.isActive) throw new AuthenticationError('Account is no longer active');
      return { user, permissions: permissionsOf(await repos.roles.findByNames(user.roles)) };
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
