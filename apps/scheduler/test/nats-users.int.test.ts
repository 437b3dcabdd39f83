// The pipeline under NATS least privilege: a private nats-server with the
// generated configuration, the vault and the scheduler each as its own NATS
// user. The scheduler publishes jobs, owns the scheduler-events consumer and
// dead-letters what it cannot record, all within its permissions.
import { randomBytes } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { createInternalTokenSigner, parseSigningKey, principalHeaders, SEEDED_ROLES, type Principal } from '@csda/auth';
import { JobResultSchema } from '@csda/proto/csda/events/v1/job_result_pb.js';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { connectNats, createServiceClient, NATS_PROVISIONER, natsUserName, publishProto, renderNatsServerConfig, type Nats } from '@csda/service-kit';
import {
  createTestDatabase,
  generateTestKeys,
  query,
  runCommand,
  runStreamProvisioning,
  startNatsServer,
  startService,
  testNamespace,
  waitFor,
  type TestDatabase,
  type TestNatsServer,
} from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const alice: Principal = { kind: 'user', id: 'user-alice', name: 'alice', roles: ['USER'], permissions: [...(SEEDED_ROLES.find((r) => r.name === 'USER')?.permissions ?? [])] };

describe('scheduler and vault as their own NATS users (private nats-server)', () => {
  const namespace = testNamespace();
  const keys = generateTestKeys();
  const password = new Map(['vault', 'scheduler', NATS_PROVISIONER].map((role) => [natsUserName(namespace, role), randomBytes(18).toString('base64url')]));
  const credentials = (role: string) => ({ NATS_USER: natsUserName(namespace, role), NATS_PASSWORD: password.get(natsUserName(namespace, role))! });
  let server: TestNatsServer;
  let db: TestDatabase;
  const services: Awaited<ReturnType<typeof startService>>[] = [];
  let asVault: Nats;

  beforeAll(async () => {
    server = await startNatsServer((listen, storeDir) =>
      renderNatsServerConfig({ namespace, listen, storeDir, password: (user) => ({ value: password.get(user) ?? randomBytes(18).toString('base64url') }) }),
    );
    const provisioner = credentials(NATS_PROVISIONER);
    const provisioned = runStreamProvisioning(server.url, namespace, provisioner.NATS_USER, provisioner.NATS_PASSWORD);
    if (provisioned.status !== 0) throw new Error(`stream provisioning failed: ${provisioned.stderr}`);
    db = await createTestDatabase('natsusers');
    const common = { DATABASE_URL: db.url, NATS_NAMESPACE: namespace, NATS_URL: server.url, NODE_ENV: 'production' };
    const vaultEnv = { ...common, ...keys.envFor('vault'), ...credentials('vault') };
    expect((await runCommand('vault', 'migrate', vaultEnv)).code).toBe(0);
    const vault = await startService('vault', vaultEnv);
    services.push(vault);
    const schedulerEnv = { ...common, ...keys.envFor('scheduler'), ...credentials('scheduler'), VAULT_URL: `http://127.0.0.1:${vault.rpcPort}`, SCHEDULER_SCAN_INTERVAL_S: '1' };
    const migrated = await runCommand('scheduler', 'migrate', schedulerEnv);
    expect(migrated.code, migrated.stderr).toBe(0);
    services.push(await startService('scheduler', schedulerEnv));
    const v = credentials('vault');
    asVault = await connectNats(server.url, 'test-as-vault', namespace, { user: v.NATS_USER, password: v.NATS_PASSWORD });
  }, 120_000);

  afterAll(async () => {
    if (process.env.DEBUG_LOGS) for (const s of services) console.log(s.logs());
    await asVault?.connection.close();
    for (const s of services.reverse()) await s.stop();
    await db?.drop();
    await server?.stop();
  });

  it('rotates a due secret end to end, dead-letters an unrecordable result, and the server logs no permission violation', async () => {
    const signer = createInternalTokenSigner({ key: parseSigningKey('gateway', keys.signingKeys.gateway!) });
    const vault = createServiceClient(VaultService, `http://127.0.0.1:${services[0]!.rpcPort}`);
    const { secret } = await vault.createSecret(
      { name: 'nats-users-rotation', value: 'v1', rotation: { enabled: true, intervalDays: 7, strategy: 'random' } },
      { headers: principalHeaders(await signer.sign(alice, 'vault')) },
    );
    await query(db.url, `update vault.secrets set next_rotation_at = now() - interval '1 minute' where id = $1`, [secret!.id]);
    await waitFor(async () => (await query(db.url, `select 1 from scheduler.jobs where resource_id = $1 and status = 'succeeded'`, [secret!.id])).length === 1, {
      timeoutMs: 30_000,
      what: 'rotation job succeeded',
    });
    expect(await query(db.url, `select current_version from vault.secrets where id = $1`, [secret!.id])).toEqual([{ current_version: 2 }]);

    await publishProto(
      asVault,
      asVault.subjects.subject('csda.events.vault.job.exploded'),
      JobResultSchema,
      create(JobResultSchema, { jobId: 'rotate:x:1', jobType: 'rotate_secret', resourceType: 'secret', resourceId: 'x', ownerId: alice.id, status: 'exploded', attempt: 1 }),
      { eventId: 'bad-result-1' },
    );
    // Dead-lettered by the scheduler (its own csda.dlq.scheduler-events subject), then terminated.
    await waitFor(() => services[1]!.logs().includes('message rejected, dead-lettered'), { timeoutMs: 15_000, what: 'dead-lettered log line' }).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${services[1]!.logs().slice(-4_000)}`);
    });
    expect(services[1]!.logs()).not.toContain('dead-letter publish failed');
    expect(server.output()).toContain('Server is ready');
    expect(server.output()).not.toMatch(/Violation/);
  });
});
