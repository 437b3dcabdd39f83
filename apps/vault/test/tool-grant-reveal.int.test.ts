import { randomUUID } from 'node:crypto';
import { actingFor, servicePrincipal, type Principal } from '@csda/auth';
import { query } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError, startHarness, user, type Vault, type VaultHarness } from './support/vault-harness.ts';

const alice = user('alice');
const bob: Principal = { ...user('bob'), roles: ['USER', 'OPS'] };
const owner = (p: Principal) => ({ id: p.id, name: p.name, roles: p.roles });
const runner = servicePrincipal('tool-runner', []);

/** A reveal for a tool execution: only the tool-runner names the tool, only while the grant is active, audited with both ids. */
describe('vault: reveals for tool executions', () => {
  let h: VaultHarness;
  let vault: Vault;

  const atSave = async (who: Principal, toolId: string, secretId: string) =>
    vault.client.replaceToolGrants(
      { toolId, toolName: 't', grants: [{ secretId, as: 'env:KEY' }] },
      await h.asToolRunner(actingFor(runner, owner(who), [['tools:write', toolId], ['secrets:reveal', secretId]])),
    );
  /** The tool-runner's reveal at execution: acting for `who`, scoped to the one secret. */
  const atRun = async (who: Principal, secretId: string, toolId: string, executionId: string) =>
    vault.client.revealSecret({ id: secretId, toolId, executionId }, await h.asToolRunner(actingFor(runner, owner(who), [['secrets:reveal', secretId]])));
  const created = async (who: Principal, sharedWithRoles: string[] = []) => {
    const value = `canary-${randomUUID()}`;
    const { secret } = await vault.client.createSecret({ name: `s-${randomUUID().slice(0, 8)}`, value, sharedWithRoles }, await h.as(who));
    return { id: secret!.id, value };
  };
  /** Outbox rows of any kind whose payload holds `value`. */
  const leaks = async (value: string) => (await query<{ n: number }>(h.db.url, 'select count(*)::int as n from vault.outbox where position($1::bytea in payload) > 0', [Buffer.from(value)]))[0]!.n;

  beforeAll(async () => {
    h = await startHarness('vault_grant_reveal');
    vault = await h.start();
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  it('reveals a granted secret for an execution and audits the tool and execution ids, never the value', async () => {
    const s = await created(alice);
    const [tool, execution] = [randomUUID(), randomUUID()];
    await atSave(alice, tool, s.id);
    expect(await atRun(alice, s.id, tool, execution)).toMatchObject({ value: s.value, version: 1 });
    const revealed = (await h.audits(s.id)).filter((a) => a.action === 'secret_revealed');
    // The vault records its own action (the gateway dead-letters another service as actor): the tool-runner is the caller.
    expect(revealed).toEqual([{ action: 'secret_revealed', actor: 'service:vault', outcome: 'success', details: { version: '1', tool_id: tool, execution_id: execution, caller: 'service:tool-runner', on_behalf_of: alice.id } }]);
    expect(await leaks(s.value)).toBe(0);
    expect(h.logs()).not.toContain(s.value);
  });

  it('refuses after the owner revokes the grant, saying so, until the tool is saved with it again', async () => {
    const s = await created(alice);
    const tool = randomUUID();
    await atSave(alice, tool, s.id);
    await vault.client.revokeSecretGrant({ secretId: s.id, toolId: tool }, await h.as(alice));
    const execution = randomUUID();
    const err = await describeError(atRun(alice, s.id, tool, execution));
    expect(err).toMatchObject({ code: 'CONFLICT', message: `grant of secret ${s.id} to tool ${tool} was revoked`, details: { reason: 'grant_revoked', tool_id: tool } });
    expect(JSON.stringify(err)).not.toContain(s.value);
    const refused = (await h.audits(s.id)).filter((a) => a.action === 'secret_reveal_refused');
    expect(refused).toEqual([{ action: 'secret_reveal_refused', actor: 'service:vault', outcome: 'failure', details: { reason: 'grant_revoked', tool_id: tool, execution_id: execution, caller: 'service:tool-runner', on_behalf_of: alice.id } }]);
    expect((await h.audits(s.id)).some((a) => a.action === 'secret_revealed')).toBe(false);

    // Revoked because the tool dropped it (update) or was deleted: the same refusal.
    const dropped = randomUUID();
    await atSave(alice, dropped, s.id);
    await vault.client.revokeToolGrants({ toolId: dropped }, await h.asToolRunner(actingFor(runner, owner(alice), [['tools:write', dropped]])));
    expect((await describeError(atRun(alice, s.id, dropped, randomUUID()))).message).toBe(`grant of secret ${s.id} to tool ${dropped} was revoked`);

    await atSave(alice, tool, s.id);
    expect((await atRun(alice, s.id, tool, randomUUID())).value).toBe(s.value);
    expect(await leaks(s.value)).toBe(0);
  });

  it('refuses a tool the secret was never granted to, and a grant made by someone else than the user acted for', async () => {
    const s = await created(alice, ['OPS']);
    const tool = randomUUID();
    const never = await describeError(atRun(alice, s.id, tool, randomUUID()));
    expect(never).toMatchObject({ code: 'AUTHORIZATION_ERROR', message: `secret ${s.id} is not granted to tool ${tool}` });
    expect((await h.audits(s.id)).find((a) => a.action === 'secret_reveal_refused')?.details).toMatchObject({ reason: 'not_granted', tool_id: tool });
    // Alice granted it to her tool; the tool-runner acting for Bob (who sees the secret via OPS) may not use that grant.
    await atSave(alice, tool, s.id);
    expect((await describeError(atRun(bob, s.id, tool, randomUUID()))).code).toBe('AUTHORIZATION_ERROR');
    expect((await atRun(alice, s.id, tool, randomUUID())).value).toBe(s.value);
  });

  it('takes tool_id only from the tool-runner, and the tool-runner always names the tool and the execution', async () => {
    const s = await created(alice);
    const tool = randomUUID();
    await atSave(alice, tool, s.id);
    const missing = await describeError(vault.client.revealSecret({ id: s.id }, await h.asToolRunner(actingFor(runner, owner(alice), [['secrets:reveal', s.id]]))));
    expect(missing).toMatchObject({ code: 'VALIDATION_ERROR', details: { tool_id: expect.stringContaining('required'), execution_id: expect.stringContaining('required') } });
    expect((await describeError(atRun(alice, s.id, tool, 'not-an-execution'))).details).toHaveProperty('execution_id');

    const asUser = await describeError(vault.client.revealSecret({ id: s.id, toolId: tool, executionId: randomUUID() }, await h.as(alice)));
    expect(asUser).toMatchObject({ code: 'AUTHORIZATION_ERROR', message: 'Only the tool-runner service may reveal a secret for a tool' });
    const scheduler = actingFor(servicePrincipal('scheduler', []), owner(alice), [['secrets:reveal', s.id]]);
    expect((await describeError(vault.client.revealSecret({ id: s.id, toolId: tool, executionId: randomUUID() }, await h.asScheduler(scheduler)))).code).toBe('AUTHORIZATION_ERROR');
    // Ordinary reveals are unchanged.
    expect((await vault.client.revealSecret({ id: s.id }, await h.as(alice))).value).toBe(s.value);
    expect((await vault.client.revealSecret({ id: s.id }, await h.asScheduler(scheduler))).value).toBe(s.value);
  });
});
