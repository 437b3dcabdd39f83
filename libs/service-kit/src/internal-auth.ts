import { join } from 'node:path';
import { createInternalTokenVerifier, internalAuthServerInterceptor, loadDevKeyPair, parsePublicKey } from '@csda/auth';
import type { Interceptor } from '@connectrpc/connect';
import type { Logger } from 'pino';
import { ConfigError, type BaseConfig } from './config.ts';

/** Services callable without an internal token: only the standard health service (probes). */
export const UNAUTHENTICATED_SERVICES = ['grpc.health.v1.Health'];

/**
 * The interceptor that makes every RPC (health excepted) carry a valid
 * gateway-signed identity token. The key is INTERNAL_VERIFY_KEY; production
 * refuses to start without it, development uses the shared dev key pair
 * under CSDA_DATA_DIR.
 */
export async function createInternalAuth(config: Pick<BaseConfig, 'INTERNAL_VERIFY_KEY' | 'NODE_ENV' | 'CSDA_DATA_DIR'>, logger: Logger): Promise<Interceptor> {
  let publicKey;
  if (config.INTERNAL_VERIFY_KEY) {
    try {
      publicKey = parsePublicKey(config.INTERNAL_VERIFY_KEY);
    } catch (err) {
      throw new ConfigError([err instanceof Error ? err.message : 'INTERNAL_VERIFY_KEY: invalid']);
    }
  } else if (config.NODE_ENV === 'production') {
    throw new ConfigError(['INTERNAL_VERIFY_KEY: required when NODE_ENV=production']);
  } else {
    publicKey = (await loadDevKeyPair(join(config.CSDA_DATA_DIR, 'dev-keys'), (message) => logger.warn(message))).publicKey;
  }
  return internalAuthServerInterceptor(createInternalTokenVerifier({ publicKey }), { exemptServices: UNAUTHENTICATED_SERVICES });
}
