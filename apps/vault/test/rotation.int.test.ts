import { fromBinary, type JsonObject } from '@bufbuild/protobuf';
import { SecretExpiredSchema, SecretExpiringSchema, SecretRotatedSchema } from '@csda/proto/csda/events/v1/secret_events_pb.js';
import { actingFor, servicePrincipal } from '@csda/auth';
import { query } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError, setRow, startHarness, user, type Vault, type VaultHarness } from './support/vault-harness.ts';

const DAY = 86_400_000;
const alice = user('alice');
const bob = user('bob');

/** Strategies random and manual, rotation status, validation and the scheduler-only RPCs, over Connect against a real vault. */
describe('vault rotation over Connect', () => {
  let h: VaultHarness;
  let vault: Vault;

  beforeAll(async () => {
    h = await startHarness('vault_rot');
    vault = await h.start();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('rotates random secrets per policy: charset, length and prefix, a new immutable version each time', async () => {
    const cases: { policy: JsonObject; pattern: RegExp }[] = [
      { policy: { length: 16, charset: 'hex' }, pattern: /^[0-9a-f]{16}$/ },
      { policy: { length: 64, charset: 'base64url', prefix: 'sk_live_' }, pattern: /^sk_live_[A-Za-z0-9_-]{64}$/ },
      { policy: { length: 256, charset: 'alphanumeric_symbols' }, pattern: /^[A-Za-z0-9!#$%&()*+,\-./:;<=>?@[\]^_{|}~]{256}$/ },
      { policy: {}, pattern: /^[A-Za-z0-9]{32}$/ },
    ];
    for (const [i, c] of cases.entries()) {
      const { secret } = await vault.client.createSecret({ name: `random-${i}`, value: 'initial-value', rotation: { enabled: true, intervalDays: 7, strategy: 'random', policy: c.policy } }, await h.as(alice));
      expect(secret?.rotation?.policy).toMatchObject(c.policy);
      const before = Date.now();
      const rotated = (await vault.client.rotateSecret({ id: secret!.id }, await h.as(alice))).secret!;
      expect(rotated.currentVersion).toBe(2);
      expect(rotated.rotation).toMatchObject({ status: 'ok', lastError: '', pendingVersion: 0 });
      expect(Number(rotated.rotation!.lastRotatedAtMs)).toBeGreaterThanOrEqual(before - 5);
      expect(Number(rotated.rotation!.nextRotationAtMs) - Number(rotated.rotation!.lastRotatedAtMs)).toBe(7 * DAY);
      const { value } = await vault.client.revealSecret({ id: secret!.id }, await h.as(alice));
      expect(value).toMatch(c.pattern);
      expect((await vault.client.revealSecret({ id: secret!.id, version: 1 }, await h.as(alice))).value).toBe('initial-value');
      const again = (await vault.client.rotateSecret({ id: secret!.id }, await h.as(alice))).secret!;
      expect(again.currentVersion).toBe(3);
      expect((await vault.client.revealSecret({ id: secret!.id }, await h.as(alice))).value).not.toBe(value);
      const audits = await h.audits(secret!.id);
      expect(audits.filter((a) => a.action === 'secret_rotated').map((a) => a.details)).toEqual([
        expect.objectContaining({ version: '2', strategy: 'random', trigger: 'on_demand' }),
        expect.objectContaining({ version: '3', strategy: 'random', trigger: 'on_demand' }),
      ]);
    }
    const rotatedEvents = (await h.events('csda.events.vault.secret.rotated')).map((e) => fromBinary(SecretRotatedSchema, e.payload));
    expect(rotatedEvents).toHaveLength(8);
    expect(rotatedEvents[0]).toMatchObject({ ownerId: alice.id, version: 2, strategy: 'random', trigger: 'on_demand' });
    expect(rotatedEvents[0]!.eventId).toBe(`rotated:${rotatedEvents[0]!.secretId}:2`);
  });

  it('names each bad field of a rotation policy, and refuses unknown keys and strategies', async () => {
    const create = async (rotation: object, value = 'x') => describeError(vault.client.createSecret({ name: `bad-${Math.random()}`, value, rotation: { enabled: true, intervalDays: 1, ...rotation } }, await h.as(alice)));
    expect(await create({ strategy: 'random', policy: { length: 8, charset: 'base32', prefix: 'é'.repeat(3), extra: true } })).toMatchObject({
      code: 'VALIDATION_ERROR',
      details: {
        'rotation.policy.length': 'an integer from 16 to 256',
        'rotation.policy.charset': 'alphanumeric | alphanumeric_symbols | hex | base64url',
        'rotation.policy.prefix': 'at most 32 printable ASCII characters',
        'rotation.policy.extra': expect.stringContaining('unknown key'),
      },
    });
    expect((await create({ strategy: 'manual', policy: { length: 32 } })).details).toEqual({ 'rotation.policy.length': 'unknown key (this strategy takes no policy)' });
    expect((await create({ strategy: 'sometimes' })).details).toEqual({ 'rotation.strategy': 'manual | random | postgres | webhook' });
    expect((await create({ strategy: 'postgres', policy: { password_length: 200 } }, 'postgres://app:pw@db.internal:5432/app')).details).toEqual({ 'rotation.policy.password_length': 'an integer from 16 to 128' });
    expect((await create({ strategy: 'postgres' }, 'not a url')).details).toHaveProperty('value');
    expect((await create({ strategy: 'webhook', policy: { url: 'http://hooks.example.com/x', mode: 'sideways' } })).details).toEqual({
      'rotation.policy.url': 'an https:// URL',
      'rotation.policy.mode': 'push | pull',
      'rotation.policy.signing_secret_id': 'required',
    });
    // A signing secret must be the caller's own and hold a whsec_ secret.
    const bobs = (await vault.client.createSecret({ name: 'bobs-signing', value: `whsec_${Buffer.alloc(32, 7).toString('base64')}` }, await h.as(bob))).secret!;
    const notWhsec = (await vault.client.createSecret({ name: 'not-whsec', value: 'plain' }, await h.as(alice))).secret!;
    for (const id of [bobs.id, notWhsec.id]) {
      expect((await create({ strategy: 'webhook', policy: { url: 'https://hooks.example.com/x', signing_secret_id: id } })).details).toEqual({
        'rotation.policy.signing_secret_id': 'a secret of yours holding a whsec_ webhook signing secret',
      });
    }
    // Patch validates the same way.
    const s = (await vault.client.createSecret({ name: 'patch-me', value: 'v' }, await h.as(alice))).secret!;
    expect((await describeError(vault.client.updateSecret({ id: s.id, rotation: { enabled: true, intervalDays: 1, strategy: 'random', policy: { length: 1000 } } }, await h.as(alice)))).details).toEqual({
      'rotation.policy.length': 'an integer from 16 to 256',
    });
    expect((await describeError(vault.client.updateSecret({ id: s.id, rotation: { enabled: true, intervalDays: 1, strategy: 'postgres' } }, await h.as(alice)))).details).toHaveProperty('value');
    // A non-manual secret takes no value to rotate to.
    const r = (await vault.client.createSecret({ name: 'random-no-value', value: 'v', rotation: { strategy: 'random' } }, await h.as(alice))).secret!;
    expect((await describeError(vault.client.rotateSecret({ id: r.id, value: 'chosen' }, await h.as(alice)))).details).toHaveProperty('value');
    expect((await describeError(vault.client.listSecrets({ rotationStatus: 'late' }, await h.as(alice)))).details).toEqual({ rotation_status: 'ok | due | overdue | pending | failed' });
  });

  it('shows a manual secret overdue until a new value is put, which counts as its rotation', async () => {
    const s = (await vault.client.createSecret({ name: 'manual-overdue', value: 'm1', rotation: { enabled: true, intervalDays: 30, strategy: 'manual' } }, await h.as(alice))).secret!;
    expect(s.rotation?.status).toBe('ok');
    await setRow(h.db, s.id, `next_rotation_at = now() - interval '1 hour'`);
    expect((await vault.client.getSecret({ id: s.id }, await h.as(alice))).secret?.rotation?.status).toBe('overdue');
    const overdue = await vault.client.listSecrets({ rotationStatus: 'overdue' }, await h.as(alice));
    expect(overdue.items.map((i) => i.id)).toEqual([s.id]);
    expect((await vault.client.listSecrets({ rotationStatus: 'due' }, await h.as(alice))).items.map((i) => i.id)).not.toContain(s.id);
    expect(await describeError(vault.client.rotateSecret({ id: s.id }, await h.as(alice)))).toMatchObject({ code: 'VALIDATION_ERROR', details: { value: 'required for strategy manual' } });

    const put = (await vault.client.putSecretValue({ id: s.id, value: 'm2' }, await h.as(alice))).secret!;
    expect(put.currentVersion).toBe(2);
    expect(put.rotation?.status).toBe('ok');
    expect(Number(put.rotation!.nextRotationAtMs) - Number(put.rotation!.lastRotatedAtMs)).toBe(30 * DAY);
    expect((await vault.client.listSecrets({ rotationStatus: 'overdue' }, await h.as(alice))).total).toBe(0n);
    expect((await h.audits(s.id)).filter((a) => a.action === 'secret_value_updated').map((a) => a.details)).toEqual([expect.objectContaining({ version: '2', rotation: 'manual' })]);

    // An automatic strategy past due is "due"; a stored failure shows as "failed".
    const r = (await vault.client.createSecret({ name: 'random-due', value: 'r1', rotation: { enabled: true, intervalDays: 1, strategy: 'random' } }, await h.as(alice))).secret!;
    await setRow(h.db, r.id, `next_rotation_at = now() - interval '1 minute'`);
    expect((await vault.client.listSecrets({ rotationStatus: 'due' }, await h.as(alice))).items.map((i) => i.id)).toEqual([r.id]);
    await setRow(h.db, r.id, `rotation_state = 'failed', rotation_last_error = 'webhook answered HTTP 500'`);
    const failed = (await vault.client.getSecret({ id: r.id }, await h.as(alice))).secret!;
    expect(failed.rotation).toMatchObject({ status: 'failed', lastError: 'webhook answered HTTP 500' });
    expect((await vault.client.listSecrets({ rotationStatus: 'failed' }, await h.as(alice))).items.map((i) => i.id)).toEqual([r.id]);
    // New settings are the owner's answer: the secret is due again, not failed.
    await vault.client.updateSecret({ id: r.id, rotation: { enabled: true, intervalDays: 1, strategy: 'random', policy: { length: 20 } } }, await h.as(alice));
    expect((await vault.client.getSecret({ id: r.id }, await h.as(alice))).secret?.rotation).toMatchObject({ status: 'ok', lastError: '' });
  });

  it('serves due rotations, expiry and warnings only to the scheduler’s own identity', async () => {
    const schedulerForAlice = actingFor(servicePrincipal('scheduler', []), { id: alice.id, name: 'alice', roles: ['USER'] }, [['secrets:write', '00000000-0000-4000-8000-000000000000']]);
    const callers = [
      ['user', await h.as(alice)],
      ['admin user', await h.as({ ...alice, permissions: [...alice.permissions, 'secrets:admin'] })],
      ['scheduler acting for a user', await h.asScheduler(schedulerForAlice)],
    ] as const;
    for (const [who, opts] of callers) {
      // One call at a time: a rejection must have its handler before it settles.
      for (const call of [() => vault.client.listDueRotations({}, opts), () => vault.client.expireSecrets({}, opts), () => vault.client.warnExpiringSecrets({ thresholdDays: [1] }, opts)]) {
        expect((await describeError(call())).code, who).toBe('AUTHORIZATION_ERROR');
      }
    }
    expect((await vault.client.listDueRotations({}, await h.asScheduler())).items).toBeInstanceOf(Array);
  });

  it('lists due rotations oldest first, paged, with manual and pending ones, never failed, inactive or deleted ones', async () => {
    const make = async (name: string, strategy: string, dueMinutesAgo: number) => {
      const s = (await vault.client.createSecret({ name, value: 'v', rotation: { enabled: true, intervalDays: 1, strategy } }, await h.as(bob))).secret!;
      await setRow(h.db, s.id, `next_rotation_at = now() - make_interval(mins => $1)`, [dueMinutesAgo]);
      return s;
    };
    const a = await make('due-a', 'random', 300);
    const b = await make('due-b', 'manual', 200);
    const c = await make('due-c', 'random', 100);
    await setRow(h.db, c.id, `rotation_state = 'pending'`);
    const failed = await make('due-failed', 'random', 250);
    await setRow(h.db, failed.id, `rotation_state = 'failed'`);
    const inactive = await make('due-inactive', 'random', 250);
    await vault.client.updateSecret({ id: inactive.id, isActive: false }, await h.as(bob));
    const deleted = await make('due-deleted', 'random', 250);
    await vault.client.deleteSecret({ id: deleted.id }, await h.as(bob));
    await make('not-due', 'random', -60);

    const page1 = (await vault.client.listDueRotations({ nowMs: BigInt(Date.now()), limit: 2 }, await h.asScheduler())).items;
    const mine = (items: typeof page1) => items.filter((i) => i.ownerId === bob.id);
    expect(mine(page1).map((i) => i.secretId)).toEqual([a.id, b.id]);
    expect(page1[0]).toMatchObject({ name: 'due-a', strategy: 'random', currentVersion: 1 });
    const last = page1.at(-1)!;
    const page2 = (await vault.client.listDueRotations({ nowMs: BigInt(Date.now()), limit: 10, afterDueAtMs: last.dueAtMs, afterSecretId: last.secretId }, await h.asScheduler())).items;
    expect(mine(page2).map((i) => i.secretId)).toEqual([c.id]);
    // now_ms in the future is clamped to the vault's clock: nothing rotates early.
    const future = (await vault.client.listDueRotations({ nowMs: BigInt(Date.now() + 10 * DAY), limit: 100 }, await h.asScheduler())).items;
    expect(mine(future).map((i) => i.name)).toEqual(['due-a', 'due-b', 'due-c']);
  });

  it('deactivates expired secrets once each, audited, with SecretExpired through the outbox; no cap on a far expiry', async () => {
    const far = (await vault.client.createSecret({ name: 'far-future', value: 'v', expiresAtMs: BigInt(Date.UTC(9000, 0, 1)) }, await h.as(alice))).secret!;
    expect(Number(far.expiresAtMs)).toBe(Date.UTC(9000, 0, 1));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const s = (await vault.client.createSecret({ name: `expiring-${i}`, value: 'v', expiresAtMs: BigInt(Date.now() + DAY) }, await h.as(alice))).secret!;
      await setRow(h.db, s.id, `expires_at = now() - interval '1 second'`);
      ids.push(s.id);
    }
    const first = await vault.client.expireSecrets({ nowMs: BigInt(Date.now()), limit: 3 }, await h.asScheduler());
    expect(first).toMatchObject({ expired: 3, more: true });
    const second = await vault.client.expireSecrets({ nowMs: BigInt(Date.now()), limit: 3 }, await h.asScheduler());
    expect(second).toMatchObject({ expired: 2, more: false });
    expect((await vault.client.expireSecrets({ nowMs: BigInt(Date.now()), limit: 3 }, await h.asScheduler())).expired).toBe(0);
    for (const id of ids) {
      expect((await vault.client.getSecret({ id }, await h.as(alice))).secret?.isActive).toBe(false);
      expect((await h.audits(id)).filter((a) => a.action === 'secret_expired')).toEqual([expect.objectContaining({ actor: 'service:vault', details: expect.objectContaining({ caller: 'service:scheduler' }) })]);
    }
    const events = (await h.events('csda.events.vault.secret.expired')).map((e) => fromBinary(SecretExpiredSchema, e.payload));
    expect(events.map((e) => e.secretId).sort()).toEqual([...ids].sort());
    expect(events[0]).toMatchObject({ ownerId: alice.id });
    expect((await vault.client.getSecret({ id: far.id }, await h.as(alice))).secret?.isActive).toBe(true);
  });

  it('warns once per secret and threshold, at the smallest threshold it is inside, and again after the expiry changes', async () => {
    const carol = user('carol');
    const at = async (name: string, inMs: number) => (await vault.client.createSecret({ name, value: 'v', expiresAtMs: BigInt(Date.now() + inMs) }, await h.as(carol))).secret!;
    const in10d = await at('in-10-days', 10 * DAY);
    const in2d = await at('in-2-days', 2 * DAY);
    const in12h = await at('in-12-hours', DAY / 2);
    await at('in-20-days', 20 * DAY);
    const warn = async () => (await vault.client.warnExpiringSecrets({ nowMs: BigInt(Date.now()), thresholdDays: [14, 3, 1], limit: 100 }, await h.asScheduler())).warned;
    const carolWarnings = async () =>
      (await h.events('csda.events.vault.secret.expiring')).map((e) => fromBinary(SecretExpiringSchema, e.payload)).filter((e) => e.ownerId === carol.id).map((e) => [e.name, e.thresholdDays]);
    expect(await warn()).toBe(3);
    expect(await carolWarnings()).toEqual(expect.arrayContaining([['in-10-days', 14], ['in-2-days', 3], ['in-12-hours', 1]]));
    expect(await warn()).toBe(0);
    // Time passes: the 10-day secret is now inside 3 days (the 14-day warning is not repeated).
    await query(h.db.url, `update vault.secrets set expires_at = now() + interval '2 days', expiry_warned_days = 14 where id = $1`, [in10d.id]);
    // (that update changed expires_at, which resets the warnings: restore the recorded one, as if the clock moved instead)
    expect((await query<{ d: number | null }>(h.db.url, 'select expiry_warned_days as d from vault.secrets where id = $1', [in10d.id]))[0]?.d).toBeNull();
    await query(h.db.url, `update vault.secrets set expiry_warned_days = 14 where id = $1`, [in10d.id]);
    expect(await warn()).toBe(1);
    expect((await carolWarnings()).filter(([n]) => n === 'in-10-days')).toEqual([['in-10-days', 14], ['in-10-days', 3]]);
    // The owner extends an expiry: its warnings start over.
    await vault.client.updateSecret({ id: in2d.id, setExpiresAt: true, expiresAtMs: BigInt(Date.now() + 2 * DAY + 60_000) }, await h.as(carol));
    expect(await warn()).toBe(1);
    expect((await carolWarnings()).filter(([n]) => n === 'in-2-days')).toEqual([['in-2-days', 3], ['in-2-days', 3]]);
    expect(await warn()).toBe(0);
    void in12h;
    expect((await describeError(vault.client.warnExpiringSecrets({ thresholdDays: [0] }, await h.asScheduler()))).details).toHaveProperty('threshold_days');
  });
});
