import { randomBytes } from 'node:crypto';
import { createTestDatabase, deleteNamespace, natsUrl, query, startStack, testNamespace, waitFor, type Stack, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restClient } from './support/rest.ts';

/**
 * Rotation through the REST edge on the real stack (six processes): rotation
 * settings and status as the vault keeps them, on-demand rotation, the
 * rotation_status filter, and a due secret rotated by the pipeline (the
 * scheduler's due scan → JOBS_SECRETS → the vault's worker → JobResult →
 * the scheduler's job record), seen through /api/v1/jobs and /system/queues.
 */
describe('rotation through the gateway (real stack)', () => {
  const namespace = testNamespace();
  const initial = `initial-${randomBytes(12).toString('hex')}`;
  const userPassword = `pw-${randomBytes(9).toString('base64url')}`;
  let db: TestDatabase;
  let stack: Stack;
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};

  const { api, login } = restClient(() => stack.gatewayUrl);

  beforeAll(async () => {
    db = await createTestDatabase('rotation_flow');
    stack = await startStack({ databaseUrl: db.url, namespace, env: { NODE_ENV: 'production', NATS_URL: natsUrl(), SCHEDULER_SCAN_INTERVAL_S: '1' } });
    tokens.admin = await login('admin', stack.env.ADMIN_INITIAL_PASSWORD!);
    const created = await api('POST', '/api/v1/users', tokens.admin, { username: 'alice', email: 'alice@example.test', password: userPassword });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    ids.alice = created.body!.id;
    tokens.alice = await login('alice', userPassword);
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('creates a random-strategy secret: policy, status and next rotation as the vault stored them', async () => {
    const res = await api('POST', '/api/v1/vault/secrets', tokens.alice, {
      name: 'api-key',
      value: initial,
      rotation: { enabled: true, interval_days: 30, strategy: 'random', policy: { length: 40, charset: 'hex', prefix: 'sk_' } },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    ids.random = res.body!.id;
    expect(res.body!.rotation).toMatchObject({ enabled: true, interval_days: 30, strategy: 'random', policy: { length: 40, charset: 'hex', prefix: 'sk_' }, status: 'ok', last_error: null, pending_version: null });
    const next = Date.parse(res.body!.rotation.next_rotation_at);
    expect(Math.abs(next - (Date.now() + 30 * 86_400_000))).toBeLessThan(120_000);
  });

  it("refuses a bad policy with the vault's per-field details", async () => {
    const res = await api('POST', '/api/v1/vault/secrets', tokens.alice, { name: 'bad', value: 'v-1', rotation: { enabled: true, interval_days: 1, strategy: 'random', policy: { length: 8, charset: 'emoji' } } });
    expect(res.status).toBe(422);
    expect(Object.keys(res.body!.error.details)).toEqual(expect.arrayContaining(['rotation.policy.length', 'rotation.policy.charset']));
  });

  it('rotates on demand through the strategy: a new version from the policy, the metadata back, no value in it', async () => {
    const res = await api('POST', `/api/v1/vault/secrets/${ids.random}/rotate`, tokens.alice);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ id: ids.random, current_version: 2, rotation: { status: 'ok' } });
    expect(res.body!.rotation.last_rotated_at).not.toBeNull();
    const revealed = await api('GET', `/api/v1/vault/secrets/${ids.random}/value`, tokens.alice);
    expect(revealed.body!.value).toMatch(/^sk_[0-9a-f]{40}$/);
    expect(JSON.stringify(res.body)).not.toContain(revealed.body!.value);
    // An automatic strategy makes its own value.
    expect((await api('POST', `/api/v1/vault/secrets/${ids.random}/rotate`, tokens.alice, { value: 'chosen-by-me-1' })).status).toBe(422);
  });

  it('a manual secret rotates only with a new value', async () => {
    const created = await api('POST', '/api/v1/vault/secrets', tokens.alice, { name: 'partner-token', value: initial, rotation: { enabled: true, interval_days: 7, strategy: 'manual' } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    ids.manual = created.body!.id;
    // Refused by the vault: the owner must supply the value (422 naming the field).
    const valueless = await api('POST', `/api/v1/vault/secrets/${ids.manual}/rotate`, tokens.alice, {});
    expect(valueless.status).toBe(422);
    expect(valueless.body!.error).toMatchObject({ code: 'VALIDATION_ERROR', details: { value: 'required for strategy manual' } });
    expect((await api('GET', `/api/v1/vault/secrets/${ids.manual}`, tokens.alice)).body).toMatchObject({ current_version: 1 });
    const rotated = await api('POST', `/api/v1/vault/secrets/${ids.manual}/rotate`, tokens.alice, { value: `${initial}-2` });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({ current_version: 2, rotation: { strategy: 'manual', status: 'ok' } });
  });

  it('filters by rotation_status', async () => {
    const ok = await api('GET', '/api/v1/vault/secrets?rotation_status=ok', tokens.alice);
    expect(ok.status).toBe(200);
    expect(ok.body!.items.map((s: { id: string }) => s.id).sort()).toEqual([ids.random, ids.manual].sort());
    expect((await api('GET', '/api/v1/vault/secrets?rotation_status=failed', tokens.alice)).body).toMatchObject({ items: [], total: 0 });
    expect((await api('GET', '/api/v1/vault/secrets?rotation_status=stale', tokens.alice)).status).toBe(422);
  });

  it('rotates a due secret through the pipeline; the job is listed and readable by its id; the queue drains', async () => {
    // Make it due now (as if 30 days had passed).
    await query(db.url, `update vault.secrets set next_rotation_at = now() - interval '1 minute' where id = $1`, [ids.random]);
    let job: Record<string, unknown> | undefined;
    await waitFor(
      async () => {
        const res = await api('GET', `/api/v1/jobs?resource_id=${ids.random}&type=rotate_secret`, tokens.alice);
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        job = res.body!.items[0];
        return job?.status === 'succeeded';
      },
      { timeoutMs: 45_000, intervalMs: 500, what: 'the due rotation job succeeded' },
    );
    expect(job).toMatchObject({ type: 'rotate_secret', resource_type: 'secret', resource_id: ids.random, owner_id: ids.alice, trigger: 'due', last_error: null });
    expect(String(job!.id)).toMatch(new RegExp(`^rotate:${ids.random}:\\d+$`));
    expect((await api('GET', `/api/v1/vault/secrets/${ids.random}`, tokens.alice)).body).toMatchObject({ current_version: 3, rotation: { status: 'ok' } });

    const byId = await api('GET', `/api/v1/jobs/${encodeURIComponent(String(job!.id))}`, tokens.alice);
    expect(byId.status).toBe(200);
    expect(byId.body).toMatchObject({ id: job!.id, status: 'succeeded' });
    expect((await api('GET', `/api/v1/jobs/${String(job!.id)}`, tokens.alice)).body).toMatchObject({ id: job!.id });
    expect((await api('GET', `/api/v1/jobs/rotate:${ids.random}:1`, tokens.alice)).status).toBe(404);

    const queues = await api('GET', '/api/v1/system/queues', tokens.admin);
    expect(queues.status).toBe(200);
    const secrets = queues.body!.items.find((q: { queue: string }) => q.queue === 'JOBS_SECRETS');
    expect(secrets).toMatchObject({ consumer: 'vault-secret-jobs', state: 'ok', pending: 0, in_flight: 0, dead_lettered: 0 });
    expect((await api('GET', '/api/v1/system/queues', tokens.alice)).status).toBe(403);
  });
});
