import { randomUUID } from 'node:crypto';
import { actingFor, servicePrincipal, type Permission, type Principal } from '@csda/auth';
import { query } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, describeError, startHarness, user, type Vault, type VaultHarness } from './support/vault-harness.ts';

const alice = user('alice');
const bob: Principal = { ...user('bob'), roles: ['USER', 'OPS'] };
const owner = (p: Principal) => ({ id: p.id, name: p.name, roles: p.roles });

/** Grants of secrets to tools: recorded and revoked by the tool-runner, listed and revoked by each secret's owner. */
describe('vault: tool grants', () => {
  let h: VaultHarness;
  let vault: Vault;

  /** The tool-runner acting for `who`, as it calls at tool save: tools:write on the tool, secrets:reveal on each secret. */
  const forTool = (who: Principal, toolId: string, revealable: string[] = [], extra: [Permission, string][] = []) =>
    h.asToolRunner(actingFor(servicePrincipal('tool-runner', []), owner(who), [['tools:write', toolId], ...revealable.map((id): [Permission, string] => ['secrets:reveal', id]), ...extra]));
  const secret = async (who: Principal, sharedWithRoles: string[] = []) =>
    (await vault.client.createSecret({ name: `s-${randomUUID().slice(0, 8)}`, value: `v-${randomUUID()}`, sharedWithRoles }, await h.as(who))).secret!.id;
  const replace = async (who: Principal, toolId: string, grants: { secretId: string; as: string }[], revealable = grants.map((g) => g.secretId)) =>
    vault.client.replaceToolGrants({ toolId, toolName: 'my-tool', grants }, await forTool(who, toolId, revealable));
  const grants = async (secretId: string, who: Principal = alice, includeRevoked = false) => vault.client.listSecretGrants({ secretId, includeRevoked }, await h.as(who));

  beforeAll(async () => {
    h = await startHarness('vault_grants');
    vault = await h.start();
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  it('records a tool’s grants and lists them on the secret for its owner and an admin, audited with the tool and binding', async () => {
    const [s1, s2] = [await secret(alice), await secret(alice)];
    const tool = randomUUID();
    const res = await replace(alice, tool, [{ secretId: s1, as: 'env:API_KEY' }, { secretId: s2, as: 'header:X-Api-Key' }]);
    expect(res).toMatchObject({ granted: 2, revoked: 0 });
    expect(res.items.map((g) => [g.secretId, g.as])).toEqual([[s1, 'env:API_KEY'], [s2, 'header:X-Api-Key']]);

    const listed = await grants(s1);
    expect(listed.total).toBe(1n);
    expect(listed.items[0]).toMatchObject({ secretId: s1, toolId: tool, toolName: 'my-tool', as: 'env:API_KEY', grantedBy: alice.id, revokedAtMs: 0n, revokeReason: '' });
    expect(listed.items[0]!.grantedAtMs).toBeGreaterThan(0n);
    expect((await grants(s1, admin)).items.map((g) => g.toolId)).toEqual([tool]);

    const audits = (await h.audits(s1)).filter((a) => a.action === 'secret_granted');
    expect(audits).toEqual([{ action: 'secret_granted', actor: 'service:vault', outcome: 'success', details: { tool_id: tool, tool_name: 'my-tool', as: 'env:API_KEY', caller: 'service:tool-runner', on_behalf_of: alice.id } }]);
  });

  it('replaces the set: unchanged grants kept, new ones recorded, missing ones revoked as tool_updated; the same set twice changes nothing', async () => {
    const [s1, s2] = [await secret(alice), await secret(alice)];
    const tool = randomUUID();
    await replace(alice, tool, [{ secretId: s1, as: 'env:A' }, { secretId: s2, as: 'env:B' }]);
    const next = [{ secretId: s1, as: 'env:A' }, { secretId: s1, as: 'env:C' }];
    expect(await replace(alice, tool, next)).toMatchObject({ granted: 1, revoked: 1 });
    expect((await grants(s2)).total).toBe(0n);
    expect((await grants(s2, alice, true)).items).toEqual([expect.objectContaining({ toolId: tool, as: 'env:B', revokedBy: alice.id, revokeReason: 'tool_updated' })]);
    expect((await grants(s1)).items.map((g) => g.as).sort()).toEqual(['env:A', 'env:C']);

    const before = (await h.audits(s1)).length;
    expect(await replace(alice, tool, next)).toMatchObject({ granted: 0, revoked: 0 });
    expect((await h.audits(s1)).length).toBe(before);
    // A kept grant needs no reveal scope again (the tool-runner checked it when it was granted).
    expect(await replace(alice, tool, next, [])).toMatchObject({ granted: 0, revoked: 0 });
  });

  it('revokes every grant of a deleted tool (tool_deleted, audited), and only that tool’s', async () => {
    const s1 = await secret(alice);
    const [tool, other] = [randomUUID(), randomUUID()];
    await replace(alice, tool, [{ secretId: s1, as: 'env:A' }, { secretId: s1, as: 'env:B' }]);
    await replace(alice, other, [{ secretId: s1, as: 'env:A' }]);
    expect((await vault.client.revokeToolGrants({ toolId: tool }, await forTool(alice, tool))).revoked).toBe(2);
    expect((await grants(s1)).items.map((g) => g.toolId)).toEqual([other]);
    const revoked = (await h.audits(s1)).filter((a) => a.action === 'secret_grant_revoked');
    expect(revoked.map((a) => [a.details.tool_id, a.details.reason, a.details.granted_by])).toEqual([
      [tool, 'tool_deleted', alice.id],
      [tool, 'tool_deleted', alice.id],
    ]);
    // Deleting a tool without grants (or twice) is fine.
    expect((await vault.client.revokeToolGrants({ toolId: tool }, await forTool(alice, tool))).revoked).toBe(0);
  });

  it('revokes every grant of a deleted secret (secret_deleted), the history kept for an admin', async () => {
    const [doomed, kept] = [await secret(alice), await secret(alice)];
    const tool = randomUUID();
    await replace(alice, tool, [{ secretId: doomed, as: 'env:A' }, { secretId: kept, as: 'env:B' }]);
    await vault.client.deleteSecret({ id: doomed }, await h.as(alice));
    const [row] = await query<{ revoked_by: string; revoke_reason: string }>(h.db.url, 'select revoked_by, revoke_reason from vault.tool_grants where secret_id = $1', [doomed]);
    expect(row).toEqual({ revoked_by: alice.id, revoke_reason: 'secret_deleted' });
    expect((await h.audits(doomed)).filter((a) => a.action === 'secret_grant_revoked').map((a) => a.details)).toEqual([
      expect.objectContaining({ tool_id: tool, as: 'env:A', reason: 'secret_deleted', granted_by: alice.id }),
    ]);
    expect((await grants(kept)).items.map((g) => [g.toolId, g.as])).toEqual([[tool, 'env:B']]);
  });

  it('lets the secret’s owner revoke one tool’s grants; another user (even one the secret is shared with) gets NOT_FOUND', async () => {
    const shared = await secret(alice, ['OPS']);
    const bobsTool = randomUUID();
    // Bob sees the secret through OPS and grants it to his own tool.
    await replace(bob, bobsTool, [{ secretId: shared, as: 'env:OPS_TOKEN' }]);
    expect((await grants(shared)).items).toEqual([expect.objectContaining({ toolId: bobsTool, grantedBy: bob.id })]);

    for (const call of [() => grants(shared, bob), async () => vault.client.revokeSecretGrant({ secretId: shared, toolId: bobsTool }, await h.as(bob)), async () => grants(shared, user('carol'))]) {
      expect((await describeError(call())).code).toBe('NOT_FOUND');
    }
    expect((await grants(shared)).total).toBe(1n);

    expect((await vault.client.revokeSecretGrant({ secretId: shared, toolId: bobsTool }, await h.as(alice))).revoked).toBe(1);
    const again = await describeError(vault.client.revokeSecretGrant({ secretId: shared, toolId: bobsTool }, await h.as(alice)));
    expect(again).toMatchObject({ code: 'NOT_FOUND', message: `Secret ${shared} has no active grant to tool ${bobsTool}` });
    expect((await grants(shared, alice, true)).items[0]).toMatchObject({ revokedBy: alice.id, revokeReason: 'owner_revoked' });
    const audit = (await h.audits(shared)).find((a) => a.action === 'secret_grant_revoked');
    expect(audit).toMatchObject({ actor: alice.id, details: { tool_id: bobsTool, reason: 'owner_revoked', granted_by: bob.id } });
    expect(audit?.details).not.toHaveProperty('caller');
  });

  it('takes grant changes only from the tool-runner acting for the owner, with the tool and each new secret in its scope', async () => {
    const mine = await secret(alice);
    const tool = randomUUID();
    const grant = [{ secretId: mine, as: 'env:K' }];
    const scheduler = actingFor(servicePrincipal('scheduler', []), owner(alice), [['tools:write', tool], ['secrets:reveal', mine]]);
    const refusals: (() => Promise<unknown>)[] = [
      async () => vault.client.replaceToolGrants({ toolId: tool, grants: grant }, await h.as(alice)),
      async () => vault.client.replaceToolGrants({ toolId: tool, grants: grant }, await h.asScheduler(scheduler)),
      async () => vault.client.replaceToolGrants({ toolId: tool, grants: grant }, await h.asToolRunner(servicePrincipal('tool-runner', ['tools:write', 'secrets:reveal']))),
      // The tool is not in the scope.
      async () => vault.client.replaceToolGrants({ toolId: tool, grants: grant }, await forTool(alice, randomUUID(), [mine])),
      // The secret is not in the scope (the caller had no secrets:reveal).
      async () => vault.client.replaceToolGrants({ toolId: tool, grants: grant }, await forTool(alice, tool, [], [['secrets:read', mine]])),
      async () => vault.client.revokeToolGrants({ toolId: tool }, await h.as(alice)),
    ];
    for (const r of refusals) expect((await describeError(r())).code).toBe('AUTHORIZATION_ERROR');
    expect((await describeError(refusals[4]!())).message).toBe(`Granting secret ${mine} to a tool needs secrets:reveal on it`);

    // Bob cannot grant Alice's private secret, nor touch Alice's tool's grants.
    expect((await describeError(replace(bob, randomUUID(), grant))).code).toBe('NOT_FOUND');
    await replace(alice, tool, grant);
    expect((await describeError(replace(bob, tool, []))).code).toBe('NOT_FOUND');
    expect((await describeError(vault.client.revokeToolGrants({ toolId: tool }, await forTool(bob, tool)))).code).toBe('NOT_FOUND');
    expect((await grants(mine)).total).toBe(1n);
  });

  it('names every bad field and records nothing from a refused call', async () => {
    const mine = await secret(alice);
    const tool = randomUUID();
    expect(await describeError(vault.client.replaceToolGrants({ toolId: 'not-a-tool', grants: [] }, await forTool(alice, 'not-a-tool')))).toMatchObject({ code: 'VALIDATION_ERROR', details: { tool_id: 'a tool id (UUID)' } });
    const bad = await describeError(
      replace(alice, tool, [
        { secretId: mine, as: 'env:OK' },
        { secretId: 'nope', as: 'env:X' },
        { secretId: mine, as: 'cmd:rm -rf /' },
        { secretId: mine, as: 'env:' },
        { secretId: mine, as: 'env:OK' },
      ]),
    );
    expect(bad.code).toBe('VALIDATION_ERROR');
    expect(Object.keys(bad.details).sort()).toEqual(['grants[1].secret_id', 'grants[2].as', 'grants[3].as', 'grants[4]']);
    // A refusal halfway (second secret unknown) rolls back the first.
    expect((await describeError(replace(alice, tool, [{ secretId: mine, as: 'env:A' }, { secretId: randomUUID(), as: 'env:B' }]))).code).toBe('NOT_FOUND');
    expect((await grants(mine, alice, true)).total).toBe(0n);
    const [rows] = await query<{ n: number }>(h.db.url, 'select count(*)::int as n from vault.tool_grants where tool_id = $1', [tool]);
    expect(rows!.n).toBe(0);
    expect((await describeError(vault.client.revokeSecretGrant({ secretId: mine, toolId: 'x' }, await h.as(alice))))).toMatchObject({ code: 'VALIDATION_ERROR', details: { tool_id: 'a tool id (UUID)' } });
  });
});
