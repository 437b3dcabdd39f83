import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { createInternalTokenSigner, parseSigningKey, servicePrincipal, INTERNAL_TOKEN_HEADER } from '@csda/auth';
import { createTestDatabase, deleteNamespace, freePort, generateTestKeys, repoRoot, runCommand, testNamespace, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../src/migrations/index.ts';

type Unary = (req: object, metadata: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Record<string, unknown>) => void) => void;

function call(client: grpc.Client, method: string, req: object, metadata = new grpc.Metadata()): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, Unary>)[method]!.call(client, req, metadata, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** A plain @grpc/grpc-js client, proto loaded at run time, calls a Connect server over gRPC/h2c. */
describe('gRPC interop', () => {
  const namespace = testNamespace();
  const keys = generateTestKeys();
  let db: TestDatabase;
  let child: ChildProcess;
  let port: number;
  let pkg: grpc.GrpcObject;

  beforeAll(async () => {
    db = await createTestDatabase('grpc');
    expect((await runCommand('vault', 'migrate', { DATABASE_URL: db.url, NATS_NAMESPACE: namespace })).code).toBe(0);
    port = await freePort();
    const env = { ...process.env, ...keys.envFor('vault'), DATABASE_URL: db.url, NATS_NAMESPACE: namespace, HOST: '127.0.0.1', RPC_PORT: String(port), OPS_PORT: String(await freePort()) };
    child = spawn(process.execPath, ['apps/vault/src/main.ts', 'serve'], { cwd: repoRoot, env, stdio: 'pipe' });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => d.toString().includes('serving') && resolve());
      child.once('exit', (code) => reject(new Error(`vault exited ${code}`)));
    });
    const definition = protoLoader.loadSync(['csda/vault/v1/vault.proto', 'grpc/health/v1/health.proto'], {
      includeDirs: [join(repoRoot, 'proto')],
      longs: String,
      enums: String,
      defaults: true,
    });
    pkg = grpc.loadPackageDefinition(definition);
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    await db?.drop();
    await deleteNamespace(namespace);
  });

  const client = (path: string[]) => {
    const Ctor = path.reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], pkg) as grpc.ServiceClientConstructor;
    return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  };

  it('calls VaultService.GetInfo with an internal token in metadata, and is refused without one', async () => {
    const c = client(['csda', 'vault', 'v1', 'VaultService']);
    await expect(call(c, 'GetInfo', {})).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    const metadata = new grpc.Metadata();
    const signer = createInternalTokenSigner({ key: parseSigningKey('gateway', keys.signingKeys.gateway!) });
    metadata.set(INTERNAL_TOKEN_HEADER, await signer.sign(servicePrincipal('gateway', ['system:read']), 'vault'));
    const res = await call(c, 'GetInfo', {}, metadata);
    c.close();
    expect(res.info).toMatchObject({ name: 'vault', version: '0.1.0', schemaVersion: migrations.at(-1)!.name, schemaCurrent: true });
  });

  it('answers grpc.health.v1.Health/Check for the service, liveness, and NOT_FOUND for unknown names', async () => {
    const c = client(['grpc', 'health', 'v1', 'Health']);
    expect(await call(c, 'Check', { service: '' })).toEqual({ status: 'SERVING' });
    expect(await call(c, 'Check', { service: 'csda.vault.v1.VaultService' })).toEqual({ status: 'SERVING' });
    expect(await call(c, 'Check', { service: 'liveness' })).toEqual({ status: 'SERVING' });
    await expect(call(c, 'Check', { service: 'nope.Service' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    c.close();
  });
});
