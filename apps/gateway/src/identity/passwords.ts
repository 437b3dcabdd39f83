import { randomBytes } from 'node:crypto';
import { hash, verify, type Algorithm, type Options } from '@node-rs/argon2';
import { ValidationError } from '@csda/errors';

export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 256;

/**
 * The password policy (NIST SP 800-63B style: length, not composition).
 * Length counts Unicode code points. Returns the problem, or undefined when
 * the password is acceptable. Never echoes the password.
 */
export function passwordProblem(password: string): string | undefined {
  const length = [...password].length;
  if (length < PASSWORD_MIN_LENGTH) return `must be at least ${PASSWORD_MIN_LENGTH} characters`;
  if (length > PASSWORD_MAX_LENGTH) return `must be at most ${PASSWORD_MAX_LENGTH} characters`;
  if (password.trim().length === 0) return 'must not be blank';
  return undefined;
}

/** Throws VALIDATION_ERROR naming `field` when the password breaks the policy. */
export function assertPasswordPolicy(password: string, field = 'password'): void {
  const problem = passwordProblem(password);
  if (problem) throw new ValidationError(`Password ${problem}`, { [field]: problem });
}

// Argon2id at the OWASP Password Storage Cheat Sheet's first option: m=19 MiB, t=2, p=1.
// `Algorithm` is a const enum in the binding's types, which isolatedModules can't read: 2 = Argon2id.
export const ARGON2_OPTIONS: Options = Object.freeze({ algorithm: 2 as Algorithm, memoryCost: 19_456, timeCost: 2, parallelism: 1 });

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** False for a wrong password or a malformed hash; never throws for those. */
  verify(passwordHash: string, password: string): Promise<boolean>;
  /** Spends the time of a real verification, for logins naming no account. Always false. */
  verifyDummy(password: string): Promise<false>;
}

export function createPasswordHasher(options: Options = ARGON2_OPTIONS): PasswordHasher {
  let dummy: Promise<string> | undefined;
  const verifyHash = async (passwordHash: string, password: string) => {
    try {
      return await verify(passwordHash, password);
    } catch {
      return false;
    }
  };
  return {
    hash: (password) => hash(password, options),
    verify: verifyHash,
    async verifyDummy(password) {
      dummy ??= hash(randomBytes(32).toString('base64url'), options);
      await verifyHash(await dummy, password);
      return false;
    },
  };
}

/** A random url-safe password of `length` characters (base64url alphabet, 6 bits each). */
export function generatePassword(length = 32): string {
  return randomBytes(Math.ceil((length * 3) / 4)).toString('base64url').slice(0, length);
}
