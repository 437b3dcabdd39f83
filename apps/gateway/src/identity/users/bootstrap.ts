import { randomUUID } from 'node:crypto';
import { ConflictError } from '@csda/errors';
import type { IdentityDeps } from '../context.ts';
import { assertPasswordPolicy, generatePassword } from '../passwords.ts';
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
  | { readonly created: true; readonly userId: string; readonly generatedPassword?: string };

/**
 * Creates the first administrator unless a user named `admin` exists.
 * Idempotent, and safe when two bootstraps race (the unique index decides).
 */
export async function bootstrapAdmin(
  deps: Pick<IdentityDeps, 'repositories' | 'passwords' | 'audit'>,
  options: { readonly initialPassword?: string },
): Promise<BootstrapOutcome> {
  const repos = deps.repositories();
  if (await repos.users.findByLogin(BOOTSTRAP_ADMIN.username)) return { created: false };
  const generatedPassword = options.initialPassword === undefined ? generatePassword(GENERATED_PASSWORD_LENGTH) : undefined;
  const password = options.initialPassword ?? (generatedPassword as string);
  assertPasswordPolicy(password, 'ADMIN_INITIAL_PASSWORD');
  let userId: string;
  try {
    const user = await repos.users.create({ id: randomUUID(), ...BOOTSTRAP_ADMIN, passwordHash: await deps.passwords.hash(password), isActive: true, roles: [ADMIN_ROLE] });
    userId = user.id;
  } catch (err) {
    if (err instanceof ConflictError) return { created: false };
    throw err;
  }
  await deps.audit({ action: 'user_created', actor: 'service:gateway', resourceType: 'user', resourceId: userId, details: { username: BOOTSTRAP_ADMIN.username, roles: ADMIN_ROLE, via: 'bootstrap' } });
  return generatedPassword === undefined ? { created: true, userId } : { created: true, userId, generatedPassword };
}
