/**
 * Errors raised by `@csda/crypto`. None of them ever carries key material,
 * plaintext, ciphertext or tokens in its message, and none attaches a
 * `cause`, so logging them in full is safe.
 */

/** The keyring text (`VAULT_KEYRING`) is malformed, or a keyring operation is invalid. */
export class KeyringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyringError';
  }
}

/**
 * A sealed value could not be opened: unknown key id, wrong key, wrong AAD
 * (row swap), tampering or truncation. Deliberately one generic message so the
 * error tells an attacker (or a log reader) nothing about which check failed.
 */
export class DecryptError extends Error {
  constructor() {
    super('secret could not be decrypted');
    this.name = 'DecryptError';
  }
}

/** Why a Fernet operation failed; coarse on purpose (HMAC is checked before decryption). */
export type FernetFailure = 'invalid-key' | 'malformed' | 'expired' | 'signature' | 'decrypt';

const FERNET_MESSAGES: Readonly<Record<FernetFailure, string>> = {
  'invalid-key': 'Fernet key must be 32 bytes of url-safe base64',
  malformed: 'Fernet token is malformed',
  expired: 'Fernet token timestamp is outside the allowed time window',
  signature: 'Fernet token signature does not match the key',
  decrypt: 'Fernet token could not be decrypted',
};

/** A Fernet key or token is invalid; `reason` says which check failed. */
export class FernetError extends Error {
  readonly reason: FernetFailure;

  constructor(reason: FernetFailure) {
    super(FERNET_MESSAGES[reason]);
    this.name = 'FernetError';
    this.reason = reason;
  }
}
