import { randomBytes, randomUUID } from 'node:crypto';
import type { IdentityDeps } from '../context.ts';
import { assertPasswordPolicy, generatePassword } from '../passwords.ts';
import type { IdentityRepositories } from '../repositories.ts';
import { ADMIN_ROLE } from './user.service.ts';

export const BOOTSTRAP_ADMIN = { username: 'admin', email: 'admin@csda.local' } as const;
/**
 * The address releases before the typo fix gave the first admin. Nothing
 * rewrites it: an install bootstrapped then keeps its admin (still found as
 * existing) and that admin keeps logging in with it.
 */
export const LEGACY_BOOTSTRAP_EMAIL = 'admin@cdsa.local';
/** Length of a generated initial password (base64url: 192 bits). */
export const GENERATED_PASSWORD_LENGTH = 32;

export type BootstrapOutcome =
  | { readonly created: false }
  /** `generatedPassword` is set only when no initial password was given: show it once, never log it. */
  | { readonly created: true; readonly userId: string; readonly username: string; readonly generatedPassword?: string };

/**
 * `admin` / `admin@csda.local` when both are free; otherwise (a deactivated
 * former admin still holds them, or someone registered the name first) the
 * same with a random suffix, so the bootstrap never fails on a name nor
 * hands an existing account the ADMIN role.
 */
async function freeIdentity(repos: IdentityRepositories): Promise<{ username: string; email: string }> {
  const taken = async (u: { username: string; email: string }) =>
    (await repos.users.findByLogin(u.username)) !== null || (await repos.users.findByLogin(u.email)) !== null;
  if (!(await taken(BOOTSTRAP_ADMIN))) return { ...BOOTSTRAP_ADMIN };
  for (;;) {
    const suffix = randomBytes(4).toString('hex');
    const candidate = { username: `admin-${suffix}`, email: `admin-${suffix}@csda.local` };
    if (!(await taken(candidate))) return candidate;
  }
}

/**
 * Creates the first administrator when no ACTIVE user holds `ADMIN`, and
 * otherwise does nothing: renaming, re-addressing or deleting `admin` while
 * another active admin exists never lets a later run create one, and a name
 * is never what is checked. When every ADMIN holder is deactivated (the API
 * refuses to deactivate the last one, so only direct database work gets
 * there), a run creates a new admin: that is the recovery path, and an
 * operator runs it deliberately (the Helm hook runs on install only).
 * The check and the insert run under the administrators' advisory lock, so
 * two bootstraps racing create one admin. Both outcomes are audited.
 */
export async function bootstrapAdmin(
  deps: Pick<IdentityDeps, 'repositories' | 'passwords' | 'audit'>,
  options: { readonly initialPassword?: string },
): Promise<BootstrapOutcome> {
  const repos = deps.repositories();
  const skipped = async (): Promise<BootstrapOutcome> => {
    await deps.audit({ action: 'bootstrap_skipped', actor: 'service:gateway', outcome: 'success', details: { reason: 'active_admin_exists' } });
    return { created: false };
  };
  if ((await repos.users.countActiveWithRole(ADMIN_ROLE)) > 0) return skipped();
  const generatedPassword = options.initialPassword === undefined ? generatePassword(GENERATED_PASSWORD_LENGTH) : undefined;
  const password = options.initialPassword ?? (generatedPassword as string);
  assertPasswordPolicy(password, 'ADMIN_INITIAL_PASSWORD');
  // Hashing is slow: done before the lock is taken.
  const passwordHash = await deps.passwords.hash(password);
  const user = await repos.transaction(async (tx) => {
    await tx.users.lockAdministrators();
    if ((await tx.users.countActiveWithRole(ADMIN_ROLE)) > 0) return null;
    const created = await tx.users.create({ id: randomUUID(), ...(await freeIdentity(tx)), passwordHash, isActive: true, roles: [ADMIN_ROLE] });
    await tx.audit({
      action: 'user_created',
      actor: 'service:gateway',
      resourceType: 'user',
      resourceId: created.id,
      details: { username: created.username, roles: ADMIN_ROLE, via: 'bootstrap' },
    });
    return created;
  });
  if (!user) return skipped();
  const created = { created: true as const, userId: user.id, username: user.username };
  return generatedPassword === undefined ? created : { ...created, generatedPassword };
}
