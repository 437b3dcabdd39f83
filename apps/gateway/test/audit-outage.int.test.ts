// A committed change always gets its audit record, even when NATS is down:
// the platform runs on a private nats-server that the test stops and starts.
import { createTestDatabase, query, startNatsServer, startStack, testNamespace, waitFor, type Stack, type TestDatabase, type TestNatsServer } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

describe('audit survives a NATS outage (transactional outbox)', () => {
  const namespace = testNamespace();
  const adminPassword = 'outage-admin-password-0123456789';
  let nats: TestNatsServer;
  let db: TestDatabase;
  let stack: Stack | undefined;

  const api = async (method: string, path: string, token?: string, body?: unknown) => {
    const res = await fetch(`${stack!.gatewayUrl}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
  };
  const auditRows = (action: string, resourceId: string) =>
    query<{ event_id: string }>(db.url, 'select event_id from identity.audit_log where action = $1 and resource_id = $2', [action, resourceId]);

  beforeAll(async () => {
    nats = await startNatsServer((listen, storeDir) => `listen: "${listen}"\njetstream { store_dir: "${storeDir}" }\n`);
    db = await createTestDatabase('outage');
    // Six processes on a loaded 2-core machine can take a while to come up.
    stack = await startStack({ databaseUrl: db.url, namespace, adminPassword, env: { NATS_URL: nats.url }, readyTimeoutMs: 150_000 });
  }, 180_000);

  afterAll(async () => {
    if (stack) await stack.stop();
    await db?.drop();
    await nats?.stop();
  });

  it('answers success for changes made while NATS is down, and records each exactly once after it returns', async () => {
    const login = await api('POST', '/api/v1/auth/login', undefined, { username: 'admin', password: adminPassword });
    expect(login.status).toBe(200);
    const token = login.body.access_token as string;
    const created = await api('POST', '/api/v1/vault/secrets', token, { name: 'outage-secret', value: 'before-outage' });
    expect(created.status).toBe(201);
    const id = created.body.id as string;

    await nats.kill();
    const put = await api('PUT', `/api/v1/vault/secrets/${id}/value`, token, { value: 'during-outage' });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    const revealed = await api('GET', `/api/v1/vault/secrets/${id}/value`, token);
    expect(revealed.body).toMatchObject({ value: 'during-outage', version: 2 });
    const relogin = await api('POST', '/api/v1/auth/login', undefined, { username: 'admin', password: adminPassword });
    expect(relogin.status).toBe(200);
    // The records wait in the services' outboxes, committed with the changes.
    const waiting = await query<{ n: number }>(db.url, "select count(*)::int as n from vault.outbox where sent_at is null and subject like '%secret_value_updated'");
    expect(waiting[0]!.n).toBe(1);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await auditRows('secret_value_updated', id)).toEqual([]);

    await nats.restart();
    await waitFor(async () => (await auditRows('secret_value_updated', id)).length > 0 && (await auditRows('secret_revealed', id)).length > 0, { timeoutMs: 90_000, what: 'audit rows after NATS returned' });
    const adminId = (await query<{ id: string }>(db.url, "select id from identity.users where username = 'admin'"))[0]!.id;
    await waitFor(async () => (await auditRows('login_succeeded', adminId)).length >= 2, { timeoutMs: 30_000, what: 'gateway login records' });
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await auditRows('secret_value_updated', id)).toHaveLength(1);
    expect(await auditRows('secret_revealed', id)).toHaveLength(1);
    expect(await query(db.url, 'select 1 from vault.outbox where sent_at is null')).toEqual([]);
  }, 180_000);
});
