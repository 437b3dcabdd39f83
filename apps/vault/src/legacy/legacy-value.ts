import { FernetError, decodeFernet, looksLikeFernetToken } from '@csda/crypto';
import { RowProblem } from './legacy-error.ts';

/** What a legacy row says about how its `encrypted_value` is stored. */
export interface ValueHint {
  /** `is_encrypted` when the export has it; null when absent (old schema, version rows). */
  readonly isEncrypted: boolean | null;
  /** `encryption_key_id`, e.g. `fernet_v1`, or null. */
  readonly keyId: string | null;
}

/**
 * Plaintext of one legacy `encrypted_value`.
 *
 * A row is Fernet when `is_encrypted` is true or its `encryption_key_id` names
 * Fernet (the legacy setter wrote `fernet_v1` but never set `is_encrypted`).
 * Any other value that is shaped like a Fernet token must decrypt with the key,
 * or the row is refused: importing a token as if it were the secret would
 * silently corrupt it. Tokens are decoded without a TTL, as legacy rows are old.
 * @throws RowProblem naming the failure, never the value or token.
 */
export function decodeLegacyValue(raw: string, hint: ValueHint, fernetKey: string | undefined): Buffer {
  const marked = hint.isEncrypted === true || /^fernet/i.test(hint.keyId ?? '');
  if (!marked && !looksLikeFernetToken(raw.trim())) {
    return Buffer.from(raw, 'utf8');
  }
  if (fernetKey === undefined) {
    throw new RowProblem(
      marked
        ? 'value is Fernet-encrypted but no Fernet key was given'
        : 'value looks like a Fernet token but is not marked encrypted, and no Fernet key was given',
    );
  }
  try {
    return decodeFernet(raw.trim(), fernetKey);
  } catch (error) {
    if (!(error instanceof FernetError)) throw error;
    if (!marked) {
      throw new RowProblem('value looks like a Fernet token but is not marked encrypted and does not decrypt with the given key');
    }
    if (error.reason === 'malformed') throw new RowProblem('value is marked encrypted but is not a Fernet token');
    if (error.reason === 'signature') {
      throw new RowProblem('Fernet token does not match the given key (wrong key or altered token)');
    }
    throw new RowProblem('Fernet token could not be decrypted');
  }
}
