import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { createInternalTokenSigner, parseSigningKey, principalHeaders, SEEDED_ROLES, type Principal } from '@csda/auth';
import { fromBinary } from '@bufbuild/protobuf';
import { addKey, encodeFernet, generateFernetKey } from '@csda/crypto';
import { ResourceChangedSchema } from '@csda/proto/csda/events/v1/resource_changed_pb.js';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { createTestDatabase, deleteNamespace, generateTestKeys, natsUrl, query, runCommand, startService, testNamespace, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const owner: Principal = { kind: 'user', id: 'user-owner', name: 'owner', roles: ['USER'], permissions: [...SEEDED_ROLES.find((r) => r.name === 'USER')!.permissions] };

/** The vault's one-shot commands as real processes: KEK rotation and the legacy import. */
describe('vault commands', () => {
  const namespace = testNamespace();
  const keys = generateTestKeys();
  // The rotation test re-wraps everything under test2; later vaults on this database need a keyring holding it.
  const rotated = addKey(keys.env.VAULT_KEYRING, 'test2');
  const signer = createInternalTokenSigner({ key: parseSigningKey('gateway', keys.signingKeys.gateway!) });
  let db: TestDatabase;
  let dir: string;
  const env = (keyring: string, extra: Record<string, string> = {}) => ({ ...keys.envFor('vault'), VAULT_KEYRING: keyring, DATABASE_URL: db.url, NATS_NAMESPACE: namespace, NATS_URL: natsUrl(), ...extra });
  const withVault = async <T>(keyring: string, work: (vault: Client<typeof VaultService>) => Promise<T>): Promise<T> => {
    const service = await startService('vault', env(keyring));
    try {
      return await work(createClient(VaultService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${service.rpcPort}` })));
    } finally {
      await service.stop();
    }
  };
  const as = async () => ({ headers: principalHeaders(await signer.sign(owner, 'vault')) });

  beforeAll(async () => {
    db = await createTestDatabase('vault_cmd');
    dir = await mkdtemp(join(tmpdir(), 'csda-vault-cmd-'));
    expect((await runCommand('vault', 'migrate', env(keys.env.VAULT_KEYRING))).code).toBe(0);
  });
  afterAll(async () => {
    await db?.drop();
    await deleteNamespace(namespace);
    await rm(dir, { recursive: true, force: true });
  });

  it('re-wraps every data key under the new active KEK without touching values; the old key can then go', async () => {
    const ids = await withVault(keys.env.VAULT_KEYRING, async (vault) => {
      const made: string[] = [];
      for (const n of [1, 2, 3]) made.push((await vault.createSecret({ name: `kek-${n}`, value: `value-${n}` }, await as())).secret!.id);
      await vault.putSecretValue({ id: made[0]!, value: 'value-1b' }, await as());
      return made;
    });
    const before = await query<{ secret_id: string; version: number; ciphertext: Buffer }>(db.url, 'select secret_id, version, ciphertext from vault.secret_versions order by 1, 2');

    const first = await runCommand('vault', 'rewrap', env(rotated));
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('4 data key(s) re-wrapped under test2, 0 failed');
    const again = await runCommand('vault', 'rewrap', env(rotated));
    expect(again.stdout).toContain('0 data key(s) re-wrapped');

    const after = await query<{ secret_id: string; version: number; ciphertext: Buffer; key_id: string }>(db.url, 'select secret_id, version, ciphertext, key_id from vault.secret_versions order by 1, 2');
    expect(after.map((r) => r.key_id)).toEqual(['test2', 'test2', 'test2', 'test2']);
    expect(after.map((r) => r.ciphertext.toString('hex'))).toEqual(before.map((r) => r.ciphertext.toString('hex')));

    const parsed = JSON.parse(rotated) as { active: string; keys: Record<string, string> };
    const onlyNew = JSON.stringify({ active: 'test2', keys: { test2: parsed.keys.test2 } });
    const values = await withVault(onlyNew, async (vault) => Promise.all(ids.map(async (id) => (await vault.revealSecret({ id }, await as())).value)));
    expect(values).toEqual(['value-1b', 'value-2', 'value-3']);
  });

  it('imports the Python export (plaintext and Fernet rows, with history) once, encrypted', async () => {
    const fernetKey = generateFernetKey();
    const token = (text: string) => encodeFernet(Buffer.from(text), fernetKey);
    const exportJson = {
      secrets: [
        { id: 101, name: 'legacy-plain', description: 'old', encrypted_value: 'plain-legacy-value', is_encrypted: false, user_id: 7, tags: '["ops"]', created_at: '2024-01-02T03:04:05Z', is_active: true, rotation_days: 0 },
        { id: 102, name: 'legacy-fernet', description: null, encrypted_value: token('fernet-v2'), is_encrypted: true, encryption_key_id: 'fernet_v1', user_id: 8, created_at: '2024-02-01T00:00:00Z', is_active: true, rotation_days: 30 },
      ],
      secret_versions: [{ secret_id: 102, version_number: 1, encrypted_value: token('fernet-v1'), encryption_key_id: 'fernet_v1', is_active: false, rotation_reason: 'manual', created_at: '2024-02-01T00:00:00Z' }],
    };
    const rewrapIds = (await query<{ id: string }>(db.url, `select id from vault.secrets where name like 'kek-%'`)).map((r) => r.id);
    /** The ResourceChanged events in the outbox about secrets not made by the rewrap test. */
    const changed = async () =>
      (await query<{ payload: Buffer }>(db.url, `select payload from vault.outbox where event_type = 'csda.events.v1.ResourceChanged' order by id`))
        .map((r) => fromBinary(ResourceChangedSchema, r.payload))
        .filter((c) => !rewrapIds.includes(c.resourceId));
    const file = join(dir, 'secrets.json');
    await writeFile(file, JSON.stringify(exportJson));
    const args = ['--secrets', file, '--owner-id', owner.id];
    const importEnv = env(rotated, { LEGACY_ENCRYPTION_KEY: fernetKey });
    const invoke = async () => {
      const r = await runCommand('vault', ['import-legacy', ...args], importEnv);
      return { code: r.code, out: r.stdout, errText: r.stderr };
    };
    const first = await invoke();
    expect(first.code, first.errText).toBe(0);
    expect(first.out).toContain('2 secret(s) imported with 3 version(s), 0 already imported');
    expect((await invoke()).out).toContain('0 secret(s) imported with 0 version(s), 2 already imported');
    expect(first.out + first.errText).not.toContain('plain-legacy-value');
    // Each imported secret commits its `created` with it (the gateway's cache); the second run, which imports nothing, none.
    const events = await changed();
    expect(events.map((c) => [c.resourceType, c.change, c.ownerId])).toEqual([
      ['secret', 'created', owner.id],
      ['secret', 'created', owner.id],
    ]);

    await withVault(rotated, async (vault) => {
      const list = await vault.listSecrets({ namePrefix: 'legacy-' }, await as());
      const byName = Object.fromEntries(list.items.map((s) => [s.name, s]));
      expect((await vault.revealSecret({ id: byName['legacy-plain']!.id }, await as())).value).toBe('plain-legacy-value');
      const fernet = byName['legacy-fernet']!;
      expect(fernet.currentVersion).toBe(2);
      expect(fernet.rotation?.intervalDays).toBe(30);
      expect((await vault.revealSecret({ id: fernet.id, version: 1 }, await as())).value).toBe('fernet-v1');
      expect((await vault.revealSecret({ id: fernet.id }, await as())).value).toBe('fernet-v2');
      expect(byName['legacy-plain']!.tags).toEqual(['ops']);
      expect(byName['legacy-plain']!.rotation).toMatchObject({ enabled: false, intervalDays: 0 });
      expect(events.map((c) => c.resourceId).sort()).toEqual([byName['legacy-plain']!.id, fernet.id].sort());
    });
    const stored = await query<{ n: string }>(db.url, `select count(*) as n from vault.secret_versions where position(convert_to('legacy-value', 'UTF8') in ciphertext) > 0`);
    expect(Number(stored[0]!.n)).toBe(0);
  });
});
