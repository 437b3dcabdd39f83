import { generateKeyPairSync } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, createContextValues, createRouterTransport, type Interceptor } from '@connectrpc/connect';
import { HealthCheckResponseSchema, HealthCheckResponse_ServingStatus, Health } from '@csda/proto/grpc/health/v1/health_pb.js';
import { GetInfoResponseSchema, VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { describe, expect, it } from 'vitest';
import {
  INTERNAL_TOKEN_HEADER,
  internalAuthClientInterceptor,
  internalAuthServerInterceptor,
  principalFrom,
  principalHeaders,
} from './connect.ts';
import { createInternalTokenSigner, createInternalTokenVerifier } from './internal-token.ts';
import { signingKeyOf, verifyKeyOf, verifyKeySet } from './key-set.ts';
import { servicePrincipal, type Principal } from './permissions.ts';

const pair = generateKeyPairSync('ed25519');
const schedulerPair = generateKeyPairSync('ed25519');
const signer = createInternalTokenSigner({ key: signingKeyOf('gateway', pair.privateKey) });
const schedulerSigner = createInternalTokenSigner({ key: signingKeyOf('scheduler', schedulerPair.privateKey) });
const verifier = createInternalTokenVerifier({
  audience: 'vault',
  keys: verifyKeySet([verifyKeyOf('gateway', pair.publicKey), verifyKeyOf('scheduler', schedulerPair.publicKey)], ['gateway', 'scheduler']),
});
const alice: Principal = { kind: 'user', id: 'u-1', name: 'alice', roles: ['USER'], permissions: ['secrets:read'] };

function transport(clientInterceptors: Interceptor[] = []) {
  const seen: Principal[] = [];
  const t = createRouterTransport(
    (router) => {
      router.service(VaultService, {
        getInfo(_req, ctx) {
          const principal = principalFrom(ctx);
          seen.push(principal);
          return create(GetInfoResponseSchema, { info: { name: `vault for ${principal.id}` } });
        },
      });
      router.service(Health, {
        check(_req, ctx) {
          expect(() => principalFrom(ctx)).toThrow(ConnectError);
          return create(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING });
        },
      });
    },
    {
      router: { interceptors: [internalAuthServerInterceptor(verifier, { exemptServices: [Health.typeName] })] },
      transport: { interceptors: clientInterceptors },
    },
  );
  return { vault: createClient(VaultService, t), health: createClient(Health, t), seen };
}

describe('internal auth interceptors', () => {
  it('refuses a call without a token as Unauthenticated', async () => {
    const { vault, seen } = transport();
    const err = await vault.getInfo({}).then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(err?.code).toBe(Code.Unauthenticated);
    expect(err?.rawMessage).toBe('Authentication required');
    expect(seen).toHaveLength(0);
  });

  it('refuses an invalid token with the same generic error', async () => {
    const { vault } = transport();
    const forged = await createInternalTokenSigner({ key: signingKeyOf('gateway', generateKeyPairSync('ed25519').privateKey) }).sign(alice, 'vault');
    const otherAudience = await signer.sign(alice, 'search');
    for (const token of [forged, otherAudience, 'not-a-token']) {
      const err = await vault.getInfo({}, { headers: principalHeaders(token) }).then(() => undefined, (e: unknown) => ConnectError.from(e));
      expect(err?.code).toBe(Code.Unauthenticated);
      expect(err?.rawMessage).toBe('Authentication required');
    }
  });

  it('hands the verified principal to the handler', async () => {
    const { vault, seen } = transport();
    const res = await vault.getInfo({}, { headers: principalHeaders(await signer.sign(alice, 'vault')) });
    expect(res.info?.name).toBe('vault for u-1');
    expect(seen).toEqual([alice]);
  });

  it('serves exempt services (health) without a token', async () => {
    const { health } = transport();
    const res = await health.check({});
    expect(res.status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it('adds a service identity from the client interceptor, keeping a per-call token', async () => {
    const scheduler = servicePrincipal('scheduler', ['secrets:admin']);
    const { vault, seen } = transport([internalAuthClientInterceptor(() => schedulerSigner.sign(scheduler, 'vault'))]);
    await vault.getInfo({});
    await vault.getInfo({}, { headers: principalHeaders(await signer.sign(alice, 'vault')) });
    expect(seen.map((p) => p.id)).toEqual(['service:scheduler', 'u-1']);
    expect(seen[0]?.kind).toBe('service');
  });

  it('principalFrom refuses a context without a principal', () => {
    const ctx = { values: createContextValues() };
    expect(() => principalFrom(ctx)).toThrow(expect.objectContaining({ code: Code.Unauthenticated }));
    expect(principalHeaders('t')).toEqual({ [INTERNAL_TOKEN_HEADER]: 't' });
  });
});
