import { join } from 'node:path';
import {
  ISSUERS,
  createInternalTokenSigner,
  createInternalTokenVerifier,
  internalAuthServerInterceptor,
  loadDevPrivateKey,
  signingKeyOf,
  trustedCallers,
  verifyKeyOf,
  verifyKeySet,
  type InternalTokenSigner,
  type InternalTokenVerifier,
  type InternalVerifyKey,
} from '@csda/auth';
import type { Interceptor } from '@connectrpc/connect';
import { ConfigError, type BaseConfig } from './config.ts';

/** Services callable without an internal token: only the standard health service (probes). */
export const UNAUTHENTICATED_SERVICES = ['grpc.health.v1.Health'];

/** A service's internal identity: how it checks callers, and (if it calls others) how it signs. */
export interface InternalIdentity {
  readonly verifier: InternalTokenVerifier;
  /** Present when the service has a signing key (production) or is an issuer (development). */
  readonly signer: InternalTokenSigner | undefined;
  /** Key ids this service accepts, by issuer (for the start-up log; no key material). */
  readonly trusted: Readonly<Record<string, readonly string[]>>;
}

type IdentityConfig = Pick<BaseConfig, 'INTERNAL_VERIFY_KEYS' | 'INTERNAL_SIGNING_KEY' | 'NODE_ENV' | 'CSDA_DATA_DIR'>;

/**
 * The verifier (audience = `service`, keys of the issuers it trusts, see
 * TRUSTED_CALLERS) and the signer (issuer = `service`). Production takes
 * both from INTERNAL_VERIFY_KEYS / INTERNAL_SIGNING_KEY (already parsed by
 * the config schema) and refuses to start without them; development uses
 * one generated key per issuer under CSDA_DATA_DIR/dev-keys, with a warning.
 * Runs before any connection is opened.
 */
export async function loadInternalIdentity(service: string, config: IdentityConfig, warn: (message: string) => void): Promise<InternalIdentity> {
  const production = config.NODE_ENV === 'production';
  const issuer = ISSUERS.includes(service);
  if (production) {
    const problems: string[] = [];
    if (!config.INTERNAL_VERIFY_KEYS) problems.push('INTERNAL_VERIFY_KEYS: required when NODE_ENV=production');
    if (issuer && !config.INTERNAL_SIGNING_KEY) problems.push(`INTERNAL_SIGNING_KEY: required when NODE_ENV=production (${service} calls other services)`);
    if (problems.length > 0) throw new ConfigError(problems);
  }
  const devDir = join(config.CSDA_DATA_DIR, 'dev-keys');
  const dev: string[] = [];
  let keys: readonly InternalVerifyKey[];
  if (config.INTERNAL_VERIFY_KEYS) {
    keys = config.INTERNAL_VERIFY_KEYS;
  } else {
    dev.push('INTERNAL_VERIFY_KEYS');
    keys = await Promise.all(trustedCallers(service).map(async (name) => verifyKeyOf(name, await loadDevPrivateKey(devDir, name))));
  }
  const set = verifyKeySet(keys, trustedCallers(service));
  if (set.size === 0) throw new ConfigError([`INTERNAL_VERIFY_KEYS: no key of an issuer ${service} trusts (${trustedCallers(service).join(', ')})`]);

  let privateKey = config.INTERNAL_SIGNING_KEY;
  if (!privateKey && issuer) {
    dev.push('INTERNAL_SIGNING_KEY');
    privateKey = await loadDevPrivateKey(devDir, service);
  }
  if (dev.length > 0) {
    warn(
      `${dev.join(' / ')} not set: using DEVELOPMENT internal keys in ${devDir}. ` +
        'Anyone who can read that directory can mint identities for every service. Production (NODE_ENV=production) MUST set them.',
    );
  }
  const trusted: Record<string, string[]> = {};
  for (const key of set.values()) (trusted[key.issuer] ??= []).push(key.kid);
  return {
    verifier: createInternalTokenVerifier({ audience: service, keys: set }),
    signer: privateKey ? createInternalTokenSigner({ key: signingKeyOf(service, privateKey) }) : undefined,
    trusted,
  };
}

/** The interceptor that makes every RPC (health excepted) carry a valid token for this service. */
export function internalAuthInterceptor(identity: Pick<InternalIdentity, 'verifier'>): Interceptor {
  return internalAuthServerInterceptor(identity.verifier, { exemptServices: UNAUTHENTICATED_SERVICES });
}
