import type { DescService } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  createInternalTokenSigner,
  createInternalTokenVerifier,
  generateInternalKeyPair,
  internalAuthServerInterceptor,
  parsePrivateKey,
  signingKeyOf,
  verifyKeyOf,
  verifyKeySet,
  type InternalTokenSigner,
} from '@csda/auth';
import { createLogger, serverInterceptor, startRpcServer } from '@csda/service-kit';
import { freePort } from '@csda/testing';

export interface LocalBackend {
  readonly url: string;
  close(): Promise<void>;
}

/** A fresh gateway signing key and the matching signer (what main.ts gets from the runtime). */
export function gatewaySigner(): { signer: InternalTokenSigner; publicKeyOf: () => ReturnType<typeof verifyKeyOf> } {
  const privateKey = parsePrivateKey(generateInternalKeyPair().privateKeyPem);
  return { signer: createInternalTokenSigner({ key: signingKeyOf('gateway', privateKey) }), publicKeyOf: () => verifyKeyOf('gateway', privateKey) };
}

/**
 * A backend the gateway calls, as a local server speaking the real protocol
 * (Connect over h2c on 127.0.0.1) with the platform's server interceptors:
 * every call must carry a token the gateway signed for `audience`, errors
 * thrown by `impl` travel as the services send them (ConnectError with the
 * CSDA ErrorDetail).
 */
export async function startLocalBackend<S extends DescService>(
  service: S,
  audience: string,
  gatewayKey: ReturnType<typeof verifyKeyOf>,
  impl: Partial<ServiceImpl<S>>,
): Promise<LocalBackend> {
  const verifier = createInternalTokenVerifier({ audience, keys: verifyKeySet([gatewayKey], ['gateway']) });
  const port = await freePort();
  const server = await startRpcServer({
    host: '127.0.0.1',
    port,
    shutdownTimeoutMs: 1_000,
    interceptors: [serverInterceptor(createLogger({ service: audience, level: 'silent' }), false), internalAuthServerInterceptor(verifier)],
    routes: (router) => {
      router.service(service, impl);
    },
  });
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}
