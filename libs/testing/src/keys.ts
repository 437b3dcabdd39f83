import { generateKeyPairSync, randomBytes } from 'node:crypto';

/** Every service of the platform; each gets its own internal signing key in tests. */
const ISSUING_SERVICES = ['gateway', 'vault', 'tool-runner', 'document-ingest', 'search', 'scheduler'] as const;

/** Environment shared by every service of one test stack. */
export interface TestKeyEnv {
  readonly JWT_SECRET: string;
  /** Verify keys of every service, in the INTERNAL_VERIFY_KEYS format. */
  readonly INTERNAL_VERIFY_KEYS: string;
  readonly VAULT_KEYRING: string;
}

/** Fresh key material for one test stack: never the development keys under .data. */
export interface TestKeys {
  readonly env: TestKeyEnv;
  /** Each service's private signing key (PKCS#8 PEM), by service name. */
  readonly signingKeys: Readonly<Record<string, string>>;
  /** `env` plus the service's own INTERNAL_SIGNING_KEY. */
  envFor(service: string): Record<string, string>;
}

export function generateTestKeys(): TestKeys {
  const signingKeys: Record<string, string> = {};
  const verify: { issuer: string; key: string }[] = [];
  for (const issuer of ISSUING_SERVICES) {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    signingKeys[issuer] = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    verify.push({ issuer, key: publicKey.export({ type: 'spki', format: 'pem' }).toString() });
  }
  const env: TestKeyEnv = {
    JWT_SECRET: randomBytes(48).toString('base64url'),
    INTERNAL_VERIFY_KEYS: JSON.stringify(verify),
    VAULT_KEYRING: JSON.stringify({ active: 'test1', keys: { test1: randomBytes(32).toString('base64') } }),
  };
  return {
    env,
    signingKeys,
    envFor: (service) => ({ ...env, ...(signingKeys[service] ? { INTERNAL_SIGNING_KEY: signingKeys[service] } : {}) }),
  };
}
