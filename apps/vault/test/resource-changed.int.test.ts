// The vault's ResourceChanged events (resource_type `secret`), which the
// gateway's cache consumes to stop reading what it kept about a secret's
// metadata or grants: each change through the API commits one with it, a
// refused change none.
import { randomUUID } from 'node:crypto';
import { actingFor, servicePrincipal, type Permission, type Principal } from '@csda/auth';
import { generateWebhookSecret } from '@csda/net';
import { query, waitFor } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, describeError, setRow, startHarness, user, type Vault, type VaultHarness } from './support/vault-harness.ts';

const DAY = 86_400_000;
const alice = user('alice');
const bob: Principal = { ...user('bob'), roles: ['USER', 'OPS'] };

describe('vault: secret ResourceChanged events', () => {
  let h: VaultHarness;
  let vault: Vault;

  beforeAll(async () => {
    h = await startHarness('vault_changed');
    vault = await h.start();
  }, 120_000);
  afterAll(async () => {
    await h?.close();
  });

  const subject = () => `${h.namespace}.csda.events.vault.secret.changed`;
  const kinds = async (id: string) => (await h.changes(id)).map((c) => c.change);
  const create = async (who: Principal, extra: Record<string, unknown> = {}) =>
    (await vault.client.createSecret({ name: `rc-${randomUUID().slice(0, 8)}`, value: `rc-value-${randomUUID()}`, ...extra }, await h.as(who))).secret!;
  /** The tool-runner acting for `who` at a tool save: tools:write on the tool, secrets:reveal on each secret. */
  const forTool = (who: Principal, toolId: string, revealable: string[]) =>
    h.asToolRunner(
      actingFor(servicePrincipal('tool-runner', []), { id: who.id, name: who.name, roles: who.roles }, [['tools:write', toolId], ...revealable.map((id): [Permission, string] => ['secrets:reveal', id])]),
    );
  const replace = async (who: Principal, toolId: string, toolName: string, grants: { secretId: string; as: string }[]) =>
    vault.client.replaceToolGrants({ toolId, toolName, grants }, await forTool(who, toolId, grants.map((g) => g.secretId)));

  it('create, metadata updates, a put value, rotations (random, manual, by a job) and delete each commit one event, ids only, relayed to EVENTS', async () => {
    const s = await create(alice, { description: 'rc-description-text', tags: ['rc-tag'], rotation: { enabled: true, intervalDays: 7, strategy: 'random' } });
    const [created] = await h.changes(s.id);
    expect(created).toMatchObject({ subject: subject(), resourceType: 'secret', resourceId: s.id, change: 'created', ownerId: alice.id });
    expect(created!.eventId).not.toBe('');

    await vault.client.updateSecret({ id: s.id, description: 'other words' }, await h.as(alice));
    await vault.client.updateSecret({ id: s.id, sharedWithRoles: ['OPS'], setSharedWithRoles: true }, await h.as(alice));
    await vault.client.updateSecret({ id: s.id, isActive: false }, await h.as(alice));
    await vault.client.updateSecret({ id: s.id, isActive: true }, await h.as(alice));
    await vault.client.putSecretValue({ id: s.id, value: 'rc-put-value', expectedVersion: 1 }, await h.as(alice));
    expect((await vault.client.rotateSecret({ id: s.id }, await h.as(alice))).secret!.currentVersion).toBe(3);
    // A queued job rotating it (the scheduler's due scan).
    const jobId = `rotate:${s.id}:${Date.now()}`;
    await h.publishJob({ jobId, secretId: s.id, expectedVersion: 3 });
    await waitFor(async () => (await h.jobResults(jobId)).some((r) => r.status === 'succeeded'), { what: 'rotated by the job' });
    // An admin changes it: the event names the owner, not the admin.
    await vault.client.updateSecret({ id: s.id, tags: ['x'], setTags: true }, await h.as(admin));
    // An update naming no field writes nothing.
    await vault.client.updateSecret({ id: s.id, tags: ['ignored'] }, await h.as(alice));
    await vault.client.deleteSecret({ id: s.id }, await h.as(alice));

    const changes = await h.changes(s.id);
    expect(changes.map((c) => c.change)).toEqual(['created', 'updated', 'updated', 'updated', 'updated', 'rotated', 'rotated', 'rotated', 'updated', 'deleted']);
    for (const c of changes) expect(c).toMatchObject({ subject: subject(), resourceType: 'secret', resourceId: s.id, ownerId: alice.id });
    expect(new Set(changes.map((c) => c.eventId)).size).toBe(changes.length);
    // Never a name, a value, a description or a tag: only ids and the kind of change.
    const payloads = await query<{ payload: Buffer }>(h.db.url, `select payload from vault.outbox where aggregate = $1 and event_type = 'csda.events.v1.ResourceChanged'`, [`secret:${s.id}`]);
    expect(payloads).toHaveLength(changes.length);
    for (const { payload } of payloads) expect(payload.toString('latin1')).not.toMatch(new RegExp(`${s.name}|rc-value|rc-put-value|rc-description-text|rc-tag|OPS`));

    // A manual secret rotated with a supplied value (the locking path).
    const manual = await create(alice, { rotation: { enabled: true, intervalDays: 30, strategy: 'manual' } });
    await vault.client.rotateSecret({ id: manual.id, value: 'rc-manual-next' }, await h.as(alice));
    expect(await kinds(manual.id)).toEqual(['created', 'rotated']);

    await waitFor(async () => (await h.published(s.id)).length === changes.length, { what: 'every event on EVENTS' });
    expect((await h.published(s.id)).map((p) => [p.subject, p.change, p.eventId])).toEqual(changes.map((c) => [subject(), c.change, c.eventId]));
  });

  it('a rotation that begins (pending) and then fails shows in the metadata: updated twice, nothing rotated', async () => {
    const signing = await create(alice, { value: generateWebhookSecret() });
    // No VAULT_WEBHOOK_ALLOW: the egress guard refuses the loopback endpoint after the pending version is stored.
    const hook = await create(alice, { rotation: { enabled: true, intervalDays: 7, strategy: 'webhook', policy: { url: 'https://127.0.0.1:9/hook', signing_secret_id: signing.id, timeout_ms: 1_000 } } });
    const err = await describeError(vault.client.rotateSecret({ id: hook.id }, await h.as(alice)));
    expect(err.code).toBe('CONFLICT');
    expect((await vault.client.getSecret({ id: hook.id }, await h.as(alice))).secret!).toMatchObject({ currentVersion: 1, rotation: { status: 'failed', pendingVersion: 2 } });
    expect(await kinds(hook.id)).toEqual(['created', 'updated', 'updated']);
    expect(await kinds(signing.id)).toEqual(['created']);
  });

  it('expiry: expireSecrets deactivating a secret commits updated; a warning changes nothing shown and commits none', async () => {
    const expired = await create(bob, { expiresAtMs: BigInt(Date.now() + DAY) });
    await setRow(h.db, expired.id, `expires_at = now() - interval '1 second'`);
    const soon = await create(bob, { expiresAtMs: BigInt(Date.now() + 2 * DAY) });
    expect((await vault.client.expireSecrets({ nowMs: BigInt(Date.now()) }, await h.asScheduler())).expired).toBe(1);
    expect((await vault.client.getSecret({ id: expired.id }, await h.as(bob))).secret!.isActive).toBe(false);
    expect(await kinds(expired.id)).toEqual(['created', 'updated']);
    expect((await h.changes(expired.id))[1]).toMatchObject({ ownerId: bob.id });
    expect((await vault.client.warnExpiringSecrets({ nowMs: BigInt(Date.now()), thresholdDays: [3] }, await h.asScheduler())).warned).toBe(1);
    expect(await kinds(soon.id)).toEqual(['created']);
    // A second pass has nothing to do.
    expect((await vault.client.expireSecrets({ nowMs: BigInt(Date.now()) }, await h.asScheduler())).expired).toBe(0);
    expect(await kinds(expired.id)).toEqual(['created', 'updated']);
  });

  it('grants: each secret whose grants change gets one `grants` event owned by its owner; the same set again, none', async () => {
    const [a1, a2] = [(await create(alice)).id, (await create(alice)).id];
    // bob's secret, shared with a role alice holds: her tool may hold it, the event names bob.
    const shared = (await create(bob, { sharedWithRoles: ['USER'] })).id;
    const tool = randomUUID();
    const grantsOf = async (id: string) => (await h.changes(id)).filter((c) => c.change === 'grants').map((c) => c.ownerId);

    await replace(alice, tool, 'rc-tool', [{ secretId: a1, as: 'env:A' }, { secretId: shared, as: 'env:B' }]);
    expect([await grantsOf(a1), await grantsOf(shared), await grantsOf(a2)]).toEqual([[alice.id], [bob.id], []]);
    // The same set under the same name changes nothing.
    await replace(alice, tool, 'rc-tool', [{ secretId: a1, as: 'env:A' }, { secretId: shared, as: 'env:B' }]);
    expect([await grantsOf(a1), await grantsOf(shared)]).toEqual([[alice.id], [bob.id]]);
    // Renamed: every secret it holds lists the new name.
    await replace(alice, tool, 'rc-tool-renamed', [{ secretId: a1, as: 'env:A' }, { secretId: shared, as: 'env:B' }]);
    expect([await grantsOf(a1), await grantsOf(shared)]).toEqual([[alice.id, alice.id], [bob.id, bob.id]]);
    // shared dropped, a2 added (two bindings of a2: one event).
    await replace(alice, tool, 'rc-tool-renamed', [{ secretId: a1, as: 'env:A' }, { secretId: a2, as: 'env:C' }, { secretId: a2, as: 'env:D' }]);
    expect([await grantsOf(a1), await grantsOf(shared), await grantsOf(a2)]).toEqual([[alice.id, alice.id], [bob.id, bob.id, bob.id], [alice.id]]);
    // The owner takes a1 away from the tool; then the tool is deleted (a2's grants revoked).
    await vault.client.revokeSecretGrant({ secretId: a1, toolId: tool }, await h.as(alice));
    expect(await grantsOf(a1)).toHaveLength(3);
    expect((await vault.client.revokeToolGrants({ toolId: tool }, await forTool(alice, tool, []))).revoked).toBe(2);
    expect([await grantsOf(a1), await grantsOf(shared), await grantsOf(a2)].map((o) => o.length)).toEqual([3, 3, 2]);
    // Nothing left to revoke: nothing changes.
    expect((await vault.client.revokeToolGrants({ toolId: tool }, await forTool(alice, tool, []))).revoked).toBe(0);
    expect(await grantsOf(a2)).toHaveLength(2);
  });

  it('a refused change commits nothing: validation, conflicts, not found, not the owner, a refusal after a revoke in the same transaction', async () => {
    const s = await create(alice, { rotation: { enabled: true, intervalDays: 30, strategy: 'manual' } });
    const other = await create(alice);
    const bobs = (await create(bob)).id;
    const tool = randomUUID();
    await replace(alice, tool, 'rc-refused-tool', [{ secretId: other.id, as: 'env:A' }]);
    const before = (await h.changes()).length;
    const refused = async (call: Promise<unknown>, code: string) => expect((await describeError(call)).code).toBe(code);
    const missing = '00000000-0000-4000-8000-0000000000ff';

    await refused(vault.client.createSecret({ name: '', value: 'x' }, await h.as(alice)), 'VALIDATION_ERROR');
    await refused(vault.client.createSecret({ name: s.name, value: 'x' }, await h.as(alice)), 'CONFLICT');
    await refused(vault.client.updateSecret({ id: s.id, name: other.name }, await h.as(alice)), 'CONFLICT');
    await refused(vault.client.updateSecret({ id: s.id, description: 'x' }, await h.as(bob)), 'NOT_FOUND');
    await refused(vault.client.updateSecret({ id: s.id, tags: [' '], setTags: true }, await h.as(alice)), 'VALIDATION_ERROR');
    await refused(vault.client.putSecretValue({ id: s.id, value: 'v9', expectedVersion: 7 }, await h.as(alice)), 'CONFLICT');
    await refused(vault.client.putSecretValue({ id: missing, value: 'v9' }, await h.as(alice)), 'NOT_FOUND');
    await refused(vault.client.rotateSecret({ id: s.id }, await h.as(alice)), 'VALIDATION_ERROR');
    await refused(vault.client.rotateSecret({ id: s.id, value: 'v9' }, await h.as(bob)), 'NOT_FOUND');
    await refused(vault.client.deleteSecret({ id: s.id }, await h.as(bob)), 'NOT_FOUND');
    await refused(vault.client.deleteSecret({ id: missing }, await h.as(alice)), 'NOT_FOUND');
    await refused(vault.client.revokeSecretGrant({ secretId: s.id, toolId: tool }, await h.as(alice)), 'NOT_FOUND');
    await refused(vault.client.revokeSecretGrant({ secretId: other.id, toolId: tool }, await h.as(bob)), 'NOT_FOUND');
    // other's grant is revoked first in the transaction, then bob's secret (not visible to alice) refuses it all.
    await refused(replace(alice, tool, 'rc-refused-tool', [{ secretId: bobs, as: 'env:B' }]), 'NOT_FOUND');
    expect((await vault.client.listSecretGrants({ secretId: other.id }, await h.as(alice))).total).toBe(1n);
    await refused(vault.client.replaceToolGrants({ toolId: tool, toolName: 'x', grants: [] }, await h.as(alice)), 'AUTHORIZATION_ERROR');
    await refused(vault.client.expireSecrets({}, await h.as(alice)), 'AUTHORIZATION_ERROR');

    expect((await h.changes()).length).toBe(before);
  });
});
