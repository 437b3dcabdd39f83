import { randomBytes } from 'node:crypto';
import { createTestDatabase, deleteNamespace, natsUrl, query, startStack, testNamespace, waitFor, type Stack, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restClient } from './support/rest.ts';

/**
 * Schedules and alerts through the REST edge on the real stack: the
 * scheduler validates (cron, zone, target), keeps owners apart, fires the
 * schedules as their owner (a rotation, a tool run in the real tool-runner),
 * raises rotation_due for a due manual secret; alert
 * webhooks are for admins and SSRF-checked when saved.
 */
describe('schedules and alerts through the gateway (real stack)', () => {
  const namespace = testNamespace();
  const userPassword = `pw-${randomBytes(9).toString('base64url')}`;
  let db: TestDatabase;
  let stack: Stack;
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};

  const { api, login } = restClient(() => stack.gatewayUrl);

  beforeAll(async () => {
    db = await createTestDatabase('sched_alerts');
    stack = await startStack({ databaseUrl: db.url, namespace, env: { NODE_ENV: 'production', NATS_URL: natsUrl(), SCHEDULER_SCAN_INTERVAL_S: '1', ALERT_WEBHOOK_ALLOW: '127.0.0.2' } });
    tokens.admin = await login('admin', stack.env.ADMIN_INITIAL_PASSWORD!);
    for (const name of ['alice', 'bob']) {
      const created = await api('POST', '/api/v1/users', tokens.admin, { username: name, email: `${name}@example.test`, password: userPassword });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      ids[name] = created.body!.id;
      tokens[name] = await login(name, userPassword);
    }
    const secret = await api('POST', '/api/v1/vault/secrets', tokens.alice, { name: 'api-key', value: 'initial-value-1', rotation: { enabled: true, interval_days: 30, strategy: 'random', policy: { length: 32 } } });
    expect(secret.status, JSON.stringify(secret.body)).toBe(201);
    ids.secret = secret.body!.id;
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it("refuses an invalid cron expression, time zone or target with the scheduler's field names", async () => {
    const base = { name: 'nightly', cron: '0 3 * * *', time_zone: 'Europe/Berlin', target: { type: 'rotate_secret', secret_id: ids.secret } };
    for (const [patch, field] of [
      [{ cron: '61 * * * *' }, 'cron'],
      [{ cron: '@sometimes' }, 'cron'],
      [{ time_zone: 'Mars/Olympus_Mons' }, 'time_zone'],
    ] as const) {
      const res = await api('POST', '/api/v1/schedules', tokens.alice, { ...base, ...patch });
      expect(res.status, JSON.stringify(patch)).toBe(422);
      expect(Object.keys(res.body!.error.details).join(','), JSON.stringify(res.body)).toContain(field);
    }
    // Someone else's secret is no target for bob.
    const foreign = await api('POST', '/api/v1/schedules', tokens.bob, base);
    expect([404, 422], JSON.stringify(foreign.body)).toContain(foreign.status);
  });

  it('creates, reads, pauses and resumes a schedule; others cannot see it', async () => {
    const created = await api('POST', '/api/v1/schedules', tokens.alice, { name: 'every minute', cron: '* * * * *', time_zone: 'Europe/Berlin', target: { type: 'rotate_secret', secret_id: ids.secret } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    ids.schedule = created.body!.id;
    expect(created.body).toMatchObject({ owner_id: ids.alice, enabled: true, misfire_policy: 'skip', overlap_policy: 'forbid', target: { type: 'rotate_secret', secret_id: ids.secret }, paused_reason: null });
    const next = Date.parse(created.body!.next_run_at);
    expect(next).toBeGreaterThan(Date.now() - 1_000);
    expect(next).toBeLessThanOrEqual(Date.now() + 61_000);

    expect((await api('GET', '/api/v1/schedules', tokens.alice)).body).toMatchObject({ total: 1, limit: 50, offset: 0 });
    expect((await api('GET', '/api/v1/schedules', tokens.bob)).body).toMatchObject({ items: [], total: 0 });
    expect((await api('GET', `/api/v1/schedules/${ids.schedule}`, tokens.bob)).status).toBe(404);
    expect((await api('PATCH', `/api/v1/schedules/${ids.schedule}`, tokens.bob, { enabled: false })).status).toBe(404);

    const paused = await api('PATCH', `/api/v1/schedules/${ids.schedule}`, tokens.alice, { enabled: false });
    expect(paused.body).toMatchObject({ enabled: false, next_run_at: null });
    const resumed = await api('PATCH', `/api/v1/schedules/${ids.schedule}`, tokens.alice, { enabled: true });
    expect(resumed.body!.next_run_at).not.toBeNull();
  });

  it('a run_tool schedule: refused for a tool its owner may not run, created for their own (checked in the real tool-runner)', async () => {
    const tool = (owner: string, name: string) =>
      api('POST', '/api/v1/tools', tokens[owner]!, { name, tool_type: 'python_script', config: { code: 'import json,sys\nd=json.load(sys.stdin)\nprint(json.dumps({"echo": d["word"]}))' }, timeout_s: 30 });
    const bobs = await tool('bob', 'bobs-private');
    expect(bobs.status, JSON.stringify(bobs.body)).toBe(201);
    const refused = await api('POST', '/api/v1/schedules', tokens.alice, { name: 'not mine', cron: '* * * * *', target: { type: 'run_tool', tool_id: bobs.body!.id, input: {} } });
    expect(refused.status, JSON.stringify(refused.body)).toBe(422);
    expect(refused.body!.error.details).toEqual({ 'target.tool_id': 'no such tool, or not one you may run' });
    const own = await tool('alice', 'echo');
    expect(own.status, JSON.stringify(own.body)).toBe(201);
    ids.tool = own.body!.id;
    // Every minute: it fires in the same minute as the rotation schedule above (the next test waits for that one).
    const created = await api('POST', '/api/v1/schedules', tokens.alice, { name: 'echo every minute', cron: '* * * * *', target: { type: 'run_tool', tool_id: ids.tool, input: { word: 'scheduled-hello' } } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ target: { type: 'run_tool', tool_id: ids.tool, input: { word: 'scheduled-hello' } }, overlap_policy: 'forbid' });
    ids.toolSchedule = created.body!.id;
  });

  it('fires as its owner: a run with its job, and the secret rotated', async () => {
    let runs: Record<string, unknown>[] = [];
    await waitFor(
      async () => {
        runs = (await api('GET', `/api/v1/schedules/${ids.schedule}/runs`, tokens.alice)).body!.items;
        return runs.some((r) => r.status === 'succeeded');
      },
      { timeoutMs: 90_000, intervalMs: 1_000, what: 'a succeeded run' },
    );
    const run = runs.find((r) => r.status === 'succeeded')!;
    expect(String(run.job_id)).toMatch(new RegExp(`^schedule:${ids.schedule}:\\d+$`));
    const job = await api('GET', `/api/v1/jobs/${String(run.job_id)}`, tokens.alice);
    expect(job.body).toMatchObject({ status: 'succeeded', trigger: 'schedule', schedule_id: ids.schedule, resource_id: ids.secret });
    expect((await api('GET', `/api/v1/vault/secrets/${ids.secret}`, tokens.alice)).body!.current_version).toBeGreaterThanOrEqual(2);
    expect((await api('DELETE', `/api/v1/schedules/${ids.schedule}`, tokens.alice)).status).toBe(204);
    expect((await api('GET', `/api/v1/schedules/${ids.schedule}`, tokens.alice)).status).toBe(404);
  }, 150_000);

  it('fires a run_tool schedule as its owner: the run names the execution, which completes with the fixed input', async () => {
    let runs: Record<string, unknown>[] = [];
    await waitFor(
      async () => {
        runs = (await api('GET', `/api/v1/schedules/${ids.toolSchedule}/runs`, tokens.alice)).body!.items;
        return runs.length > 0;
      },
      { timeoutMs: 90_000, intervalMs: 1_000, what: 'a run of the run_tool schedule' },
    );
    const run = runs.at(-1)!;
    expect(['queued', 'running', 'succeeded'], JSON.stringify(run)).toContain(run.status);
    let execution: Record<string, unknown> = {};
    await waitFor(
      async () => {
        execution = (await api('GET', `/api/v1/tools/executions/${String(run.job_id)}`, tokens.alice)).body!;
        return !['queued', 'running'].includes(String(execution.status));
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'the scheduled execution to finish' },
    );
    expect(execution, JSON.stringify(execution)).toMatchObject({ status: 'completed', tool_id: ids.tool, owner_id: ids.alice, input: { word: 'scheduled-hello' }, output: { echo: 'scheduled-hello' } });
    // The tool-runner's JobResult finishes the run too.
    await waitFor(
      async () => {
        const latest = (await api('GET', `/api/v1/schedules/${ids.toolSchedule}/runs`, tokens.alice)).body!.items.find((r: Record<string, unknown>) => r.id === run.id);
        return latest?.status === 'succeeded';
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'the run to end succeeded' },
    );
    // Bob sees neither the schedule nor the execution.
    expect((await api('GET', `/api/v1/tools/executions/${String(run.job_id)}`, tokens.bob)).status).toBe(404);
    expect((await api('DELETE', `/api/v1/schedules/${ids.toolSchedule}`, tokens.alice)).status).toBe(204);
  }, 150_000);

  it('raises rotation_due for a due manual secret (shown overdue); its owner acknowledges it', async () => {
    const manual = await api('POST', '/api/v1/vault/secrets', tokens.alice, { name: 'partner-token', value: 'partner-value-1', rotation: { enabled: true, interval_days: 7, strategy: 'manual' } });
    expect(manual.status).toBe(201);
    await query(db.url, `update vault.secrets set next_rotation_at = now() - interval '1 minute' where id = $1`, [manual.body!.id]);
    expect((await api('GET', `/api/v1/vault/secrets/${manual.body!.id}`, tokens.alice)).body!.rotation.status).toBe('overdue');
    let alert: Record<string, unknown> | undefined;
    await waitFor(
      async () => {
        alert = (await api('GET', '/api/v1/alerts?kind=rotation_due&acknowledged=false', tokens.alice)).body!.items.find((a: { resource_id: string }) => a.resource_id === manual.body!.id);
        return alert !== undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'a rotation_due alert' },
    );
    expect(alert).toMatchObject({ kind: 'rotation_due', owner_id: ids.alice, resource_type: 'secret', acknowledged: false, acknowledged_at: null });
    expect((await api('GET', '/api/v1/alerts', tokens.bob)).body).toMatchObject({ total: 0 });
    expect((await api('POST', `/api/v1/alerts/${String(alert!.id)}/ack`, tokens.bob)).status).toBe(404);
    const acked = await api('POST', `/api/v1/alerts/${String(alert!.id)}/ack`, tokens.alice);
    expect(acked.status).toBe(200);
    expect(acked.body).toMatchObject({ id: alert!.id, acknowledged: true });
    expect(acked.body!.acknowledged_at).not.toBeNull();
    const open = (await api('GET', '/api/v1/alerts?acknowledged=false', tokens.alice)).body!.items.map((a: { id: string }) => a.id);
    expect(open).not.toContain(alert!.id);
    // An admin sees every owner's alerts.
    expect((await api('GET', '/api/v1/alerts?kind=rotation_due', tokens.admin)).body!.items.map((a: { id: string }) => a.id)).toContain(alert!.id);
  });

  it('alert webhooks: admins only, a loopback URL refused when saved, created and deleted', async () => {
    const signing = await api('POST', '/api/v1/vault/secrets', tokens.admin, { name: 'alert-signing', value: `whsec_${randomBytes(32).toString('base64')}` });
    expect(signing.status).toBe(201);
    expect((await api('GET', '/api/v1/alerts/webhooks', tokens.alice)).status).toBe(403);
    const loopback = await api('POST', '/api/v1/alerts/webhooks', tokens.admin, { url: 'https://127.0.0.1:9/hook', signing_secret_id: signing.body!.id });
    expect(loopback.status, JSON.stringify(loopback.body)).toBe(422);
    // The operator allow-listed 127.0.0.2 (ALERT_WEBHOOK_ALLOW). Only secret_expired: nothing here expires, so nothing is sent.
    const created = await api('POST', '/api/v1/alerts/webhooks', tokens.admin, { url: 'https://127.0.0.2:9/csda', kinds: ['secret_expired'], signing_secret_id: signing.body!.id, description: 'ops' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ url: 'https://127.0.0.2:9/csda', kinds: ['secret_expired'], signing_secret_id: signing.body!.id, created_by: expect.any(String) });
    expect((await api('GET', '/api/v1/alerts/webhooks', tokens.admin)).body).toMatchObject({ total: 1 });
    expect((await api('DELETE', `/api/v1/alerts/webhooks/${String(created.body!.id)}`, tokens.admin)).status).toBe(204);
    expect((await api('GET', '/api/v1/alerts/webhooks', tokens.admin)).body).toMatchObject({ total: 0 });
  });
});
