import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import { ScheduleTargetSchema, type CreateScheduleRequestSchema } from '@csda/proto/csda/scheduler/v1/scheduler_pb.js';
import type { Secret } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failure, openSchedulesHarness, user, type SchedulesHarness } from './schedules-harness.ts';

const alice = user('alice');
const bob = user('bob');
const admin = user('root', 'ADMIN');
const readOnly = user('reader', 'USER', ['schedules:read', 'secrets:read']);
const carol = user('carol');
const noSecretWrite = { ...carol, permissions: ['schedules:read', 'schedules:write', 'secrets:read'] };

const rotate = (secretId: string) => create(ScheduleTargetSchema, { kind: { case: 'rotateSecret', value: { secretId } } });
type CreateInit = Omit<MessageInitShape<typeof CreateScheduleRequestSchema>, '$typeName' | '$unknown'>;
const ms = (iso: string) => BigInt(new Date(iso).getTime());

/** The schedule RPCs against a real database and a real vault (target checks as the owner). */
describe('scheduler: schedule RPCs', () => {
  let h: SchedulesHarness;
  let aliceSecret: Secret;
  let bobSecret: Secret;
  const request = (overrides: Partial<CreateInit> = {}): CreateInit => ({
    name: `nightly-${Math.random().toString(36).slice(2, 8)}`,
    cron: '30 2 * * *',
    timeZone: 'Europe/Berlin',
    target: rotate(aliceSecret.id),
    enabled: true,
    ...overrides,
  });

  beforeAll(async () => {
    h = await openSchedulesHarness('2027-03-27T12:00:00Z');
    aliceSecret = await h.createSecret(alice, 'alice-db');
    bobSecret = await h.createSecret(bob, 'bob-db');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('creates a schedule with defaults and its next slot (02:30 Berlin does not exist on 28 March: 03:00 CEST)', async () => {
    const { schedule } = await h.scheduler.createSchedule({ ...request({ name: '  db rotation  ', description: 'monthly-ish' }) }, await h.as(alice));
    expect(schedule).toMatchObject({
      ownerId: alice.id,
      name: 'db rotation',
      description: 'monthly-ish',
      cron: '30 2 * * *',
      timeZone: 'Europe/Berlin',
      enabled: true,
      misfirePolicy: 'skip',
      overlapPolicy: 'forbid',
      nextRunAtMs: ms('2027-03-28T01:00:00Z'),
      lastRunAtMs: 0n,
      lastRunStatus: '',
      pausedReason: '',
      createdAtMs: ms('2027-03-27T12:00:00Z'),
    });
    expect(schedule!.target?.kind).toEqual({ case: 'rotateSecret', value: expect.objectContaining({ secretId: aliceSecret.id }) });
    const { schedule: fetched } = await h.scheduler.getSchedule({ id: schedule!.id }, await h.as(alice));
    expect(fetched).toEqual(schedule);
  });

  it('a disabled schedule has no next slot; macros and aliases are normalized', async () => {
    const { schedule } = await h.scheduler.createSchedule(request({ cron: '@DAILY', timeZone: 'US/Eastern', enabled: false, misfirePolicy: 'run_once', overlapPolicy: 'allow' }), await h.as(alice));
    expect(schedule).toMatchObject({ cron: '@daily', timeZone: 'America/New_York', enabled: false, nextRunAtMs: 0n, misfirePolicy: 'run_once', overlapPolicy: 'allow' });
  });

  it('names every bad field of a create at once (422)', async () => {
    const bad = await failure(
      h.scheduler.createSchedule(
        { name: ' ', description: 'x'.repeat(2001), cron: '0 0 31 4 *', timeZone: 'Mars/Olympus', target: undefined, enabled: true, misfirePolicy: 'later', overlapPolicy: 'queue' },
        await h.as(alice),
      ),
    );
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(Object.keys(bad.fields).sort()).toEqual(['cron', 'description', 'misfire_policy', 'name', 'overlap_policy', 'target', 'time_zone']);
    expect(bad.fields.cron).toContain('never fires');
  });

  it.each([
    ['six fields', { cron: '0 30 2 * * *' }, 'cron'],
    ['a control character in the name', { name: 'bad\u0007name' }, 'name'],
    ['a name over 200 characters', { name: 'n'.repeat(201) }, 'name'],
    ['@reboot', { cron: '@reboot' }, 'cron'],
    ['an offset for a zone', { timeZone: '+02:00' }, 'time_zone'],
    ['an empty oneof', { target: create(ScheduleTargetSchema, {}) }, 'target'],
    ['a malformed secret id', { target: rotate("1' or '1'='1") }, 'target.secret_id'],
  ])('refuses %s naming %s', async (_label, overrides, field) => {
    const bad = await failure(h.scheduler.createSchedule(request(overrides as Partial<CreateInit>), await h.as(alice)));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(Object.keys(bad.fields)).toEqual([field]);
  });

  it('rotate_secret needs a secret the owner owns, and secrets:write; the same answer for not-yours and missing', async () => {
    const notYours = await failure(h.scheduler.createSchedule(request({ target: rotate(bobSecret.id) }), await h.as(alice)));
    const missing = await failure(h.scheduler.createSchedule(request({ target: rotate('00000000-0000-4000-8000-000000000000') }), await h.as(alice)));
    expect(notYours).toEqual(missing);
    expect(notYours.code).toBe(Code.InvalidArgument);
    expect(notYours.fields).toEqual({ 'target.secret_id': 'no such secret, or not yours' });

    const carolSecret = await h.createSecret(carol, 'carol-key');
    const noWrite = await failure(h.scheduler.createSchedule(request({ target: rotate(carolSecret.id) }), await h.as(noSecretWrite)));
    expect(noWrite.fields['target.secret_id']).toContain('secrets:write');

    // secrets:admin sees every secret, but the vault rotates a scheduled job only for the secret's owner.
    expect((await failure(h.scheduler.createSchedule(request({ target: rotate(bobSecret.id) }), await h.as(admin)))).fields).toEqual({ 'target.secret_id': 'no such secret, or not yours' });
    const adminSecret = await h.createSecret(admin, 'admin-own');
    expect((await h.scheduler.createSchedule(request({ target: rotate(adminSecret.id) }), await h.as(admin))).schedule?.ownerId).toBe(admin.id);
  });

  it('rotate_secret refuses a manual secret (nothing to generate) and an inactive one', async () => {
    const manual = await h.createSecret(alice, 'alice-manual', 'manual');
    expect((await failure(h.scheduler.createSchedule(request({ target: rotate(manual.id) }), await h.as(alice)))).fields['target.secret_id']).toContain('rotates manually');
    const inactive = await h.createSecret(alice, 'alice-inactive');
    await h.vault.updateSecret({ id: inactive.id, isActive: false }, await h.as(alice, 'vault'));
    expect((await failure(h.scheduler.createSchedule(request({ target: rotate(inactive.id) }), await h.as(alice)))).fields).toEqual({ 'target.secret_id': 'the secret is inactive' });
  });

  it('refuses callers without schedules:write, and a names collision per owner (409), case-insensitive', async () => {
    expect((await failure(h.scheduler.createSchedule(request(), await h.as(readOnly)))).code).toBe(Code.PermissionDenied);
    await h.scheduler.createSchedule(request({ name: 'Weekly' }), await h.as(alice));
    const dup = await failure(h.scheduler.createSchedule(request({ name: 'weekly' }), await h.as(alice)));
    expect(dup.code).toBe(Code.AlreadyExists);
    expect(dup.fields).toEqual({ name: 'weekly' });
    // Another owner may use the name.
    await h.scheduler.createSchedule(request({ name: 'weekly', target: rotate(bobSecret.id) }), await h.as(bob));
  });

  it('owners see their own; system:read sees all but changes none; not yours is NOT_FOUND', async () => {
    const { schedule } = await h.scheduler.createSchedule(request({ name: 'private' }), await h.as(alice));
    const id = schedule!.id;
    const asBob = await h.as(bob);
    for (const call of [
      () => h.scheduler.getSchedule({ id }, asBob),
      () => h.scheduler.updateSchedule({ id, name: 'mine now' }, asBob),
      () => h.scheduler.deleteSchedule({ id }, asBob),
      () => h.scheduler.listScheduleRuns({ scheduleId: id }, asBob),
      async () => h.scheduler.updateSchedule({ id, enabled: false }, await h.as(admin)),
      async () => h.scheduler.getSchedule({ id: 'not-a-uuid' }, await h.as(alice)),
    ]) {
      expect((await failure(call())).code).toBe(Code.NotFound);
    }
    // Still alice's, unchanged.
    expect((await h.scheduler.getSchedule({ id }, await h.as(alice))).schedule).toMatchObject({ name: 'private', enabled: true });
    const bobs = await h.scheduler.listSchedules({}, await h.as(bob));
    expect(bobs.items.every((s) => s.ownerId === bob.id)).toBe(true);
    expect(bobs.items.map((s) => s.id)).not.toContain(id);
    const all = await h.scheduler.listSchedules({ limit: 200 }, await h.as(admin));
    expect(new Set(all.items.map((s) => s.ownerId))).toEqual(new Set([alice.id, bob.id, admin.id]));
    expect(Number(all.total)).toBe(all.items.length);
    expect((await h.scheduler.getSchedule({ id }, await h.as(admin))).schedule?.ownerId).toBe(alice.id);
  });

  it('lists with filters and paging; a bad filter is a 422 naming it', async () => {
    const all = await h.scheduler.listSchedules({ limit: 200 }, await h.as(alice));
    const disabled = await h.scheduler.listSchedules({ enabled: 'false' }, await h.as(alice));
    expect(disabled.items.length).toBeGreaterThan(0);
    expect(disabled.items.every((s) => !s.enabled)).toBe(true);
    const page = await h.scheduler.listSchedules({ limit: 2, offset: 1 }, await h.as(alice));
    expect(page.items.map((s) => s.id)).toEqual(all.items.slice(1, 3).map((s) => s.id));
    expect(page.total).toBe(all.total);
    expect((await h.scheduler.listSchedules({ targetType: 'rotate_secret' }, await h.as(alice))).total).toBe(all.total);
    expect((await h.scheduler.listSchedules({ targetType: 'run_tool' }, await h.as(alice))).total).toBe(0n);
    const bad = await failure(h.scheduler.listSchedules({ enabled: 'yes', targetType: 'delete_everything' }, await h.as(alice)));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(Object.keys(bad.fields).sort()).toEqual(['enabled', 'target_type']);
  });

  it('update: keeps unset fields, recomputes next_run_at on cron/zone/enable, names every bad field', async () => {
    const { schedule } = await h.scheduler.createSchedule(request({ name: 'to-update' }), await h.as(alice));
    const id = schedule!.id;
    h.clock.set('2027-10-30T12:00:00Z');
    const renamed = (await h.scheduler.updateSchedule({ id, name: 'updated', description: 'now described' }, await h.as(alice))).schedule!;
    expect(renamed).toMatchObject({ name: 'updated', description: 'now described', cron: '30 2 * * *', nextRunAtMs: schedule!.nextRunAtMs });
    // Fall-back day: 02:30 occurs twice, the slot is the first (CEST).
    const rezoned = (await h.scheduler.updateSchedule({ id, timeZone: 'Europe/Paris' }, await h.as(alice))).schedule!;
    expect(rezoned.nextRunAtMs).toBe(ms('2027-10-31T00:30:00Z'));
    const recron = (await h.scheduler.updateSchedule({ id, cron: '0 0 29 2 *', timeZone: 'UTC' }, await h.as(alice))).schedule!;
    expect(recron.nextRunAtMs).toBe(ms('2028-02-29T00:00:00Z'));
    expect((await h.scheduler.updateSchedule({ id, enabled: false }, await h.as(alice))).schedule).toMatchObject({ enabled: false, nextRunAtMs: 0n });
    expect((await h.scheduler.updateSchedule({ id, enabled: true }, await h.as(alice))).schedule?.nextRunAtMs).toBe(ms('2028-02-29T00:00:00Z'));

    const bad = await failure(
      h.scheduler.updateSchedule({ id, name: '', cron: '* * *', timeZone: 'Nowhere/City', misfirePolicy: '', overlapPolicy: 'maybe', target: rotate('nope') }, await h.as(alice)),
    );
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(Object.keys(bad.fields).sort()).toEqual(['cron', 'misfire_policy', 'name', 'overlap_policy', 'target.secret_id', 'time_zone']);
    const retarget = await failure(h.scheduler.updateSchedule({ id, target: rotate(bobSecret.id) }, await h.as(alice)));
    expect(retarget.fields).toEqual({ 'target.secret_id': 'no such secret, or not yours' });
    // Nothing of the refused updates was applied.
    expect((await h.scheduler.getSchedule({ id }, await h.as(alice))).schedule).toMatchObject({ name: 'updated', cron: '0 0 29 2 *', timeZone: 'UTC' });
  });

  it('delete: gone from get and list, runs NOT_FOUND, the name is free again', async () => {
    const { schedule } = await h.scheduler.createSchedule(request({ name: 'short-lived' }), await h.as(alice));
    await h.scheduler.deleteSchedule({ id: schedule!.id }, await h.as(alice));
    expect((await failure(h.scheduler.getSchedule({ id: schedule!.id }, await h.as(alice)))).code).toBe(Code.NotFound);
    expect((await failure(h.scheduler.listScheduleRuns({ scheduleId: schedule!.id }, await h.as(alice)))).code).toBe(Code.NotFound);
    expect((await failure(h.scheduler.deleteSchedule({ id: schedule!.id }, await h.as(alice)))).code).toBe(Code.NotFound);
    const list = await h.scheduler.listSchedules({ limit: 200 }, await h.as(alice));
    expect(list.items.map((s) => s.id)).not.toContain(schedule!.id);
    await h.scheduler.createSchedule(request({ name: 'short-lived' }), await h.as(alice));
    const [row] = await h.sql<{ enabled: boolean; next_run_at: Date | null }>('select enabled, next_run_at from scheduler.schedules where id = $1', [schedule!.id]);
    expect(row).toEqual({ enabled: false, next_run_at: null });
  });
});
