import { generateKeyPairSync, randomBytes } from 'node:crypto';

/** Fresh key material for one test stack: never the development keys under .data. */
export interface TestKeys {
  readonly JWT_SECRET: string;
  readonly INTERNAL_SIGNING_KEY: string;
  readonly INTERNAL_VERIFY_KEY: string;
  readonly VAULT_KEYRING: string;
}

export function generateTestKeys(): TestKeys {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    JWT_SECRET: randomBytes(48).toString('base64url'),
    INTERNAL_SIGNING_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    INTERNAL_VERIFY_KEY: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    VAULT_KEYRING: JSON.stringify({ active: 'test1', keys: { test1: randomBytes(32).toString('base64') } }),
  };
}
