// The whole platform under its NATS least privilege: a private nats-server
// with the generated configuration (one user per service, the provisioner
// creating the streams), all six services as processes, each with its own
// NATS user, as `npm start` and the Helm chart run them. Every service must
// work within its permissions: the server logs no violation.
import { randomBytes } from 'node:crypto';
import { NATS_PROVISIONER, NATS_SERVICES, natsUserName, renderNatsServerConfig } from '@csda/service-kit';
import { createTestDatabase, query, runStreamProvisioning, startNatsServer, startStack, testNamespace, type Stack, type TestDatabase, type TestNatsServer } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

async function eventually<T>(probe: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('platform on NATS with one user per service (private nats-server)', () => {
  const namespace = testNamespace();
  const passwords = new Map([...NATS_SERVICES, NATS_PROVISIONER].map((role) => [natsUserName(namespace, role), randomBytes(18).toString('base64url')]));
  let nats: TestNatsServer;
  let db: TestDatabase;
  let stack: Stack | undefined;

  beforeAll(async () => {
    nats = await startNatsServer((listen, storeDir) => renderNatsServerConfig({ namespace, listen, storeDir, password: (user) => ({ value: passwords.get(user) as string }) }));
    const provisioner = natsUserName(namespace, NATS_PROVISIONER);
    const provisioned = runStreamProvisioning(nats.url, namespace, provisioner, passwords.get(provisioner) as string);
    if (provisioned.status !== 0) throw new Error(`stream provisioning failed: ${provisioned.stderr}`);
    db = await createTestDatabase('natsusers');
    stack = await startStack({
      databaseUrl: db.url,
      namespace,
      env: { NODE_ENV: 'production', NATS_URL: nats.url },
      serviceEnv: (name) => ({ NATS_USER: natsUserName(namespace, name), NATS_PASSWORD: passwords.get(natsUserName(namespace, name)) as string }),
    });
  }, 120_000);

  afterAll(async () => {
    if (stack) await stack.stop();
    await db?.drop();
    await nats?.stop();
  });

  const api = async (method: string, path: string, token?: string, body?: unknown) => {
    const res = await fetch(`${stack!.gatewayUrl}${path}`, {
      method,
      headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
  };

  it('starts all six, each announcing itself on AUDIT as its own user, consumed by the gateway', async () => {
    expect((await api('GET', '/readyz')).status).toBe(200);
    const services = await eventually(
      async () => (await query<{ service: string }>(db.url, `select distinct service from identity.audit_log where action = 'service_started'`)).map((r) => r.service).sort(),
      (s) => s.length === 6,
    );
    expect(services).toEqual([...NATS_SERVICES].sort());
  });

  it('audits a failed login (gateway) and a secret reveal (vault) through JetStream', async () => {
    expect((await api('POST', '/api/v1/auth/login', undefined, { username: 'admin', password: 'not-the-password-123' })).status).toBe(401);
    const login = await api('POST', '/api/v1/auth/login', undefined, { username: 'admin', password: stack!.env.ADMIN_INITIAL_PASSWORD });
    const token = login.body.access_token as string;
    const created = await api('POST', '/api/v1/vault/secrets', token, { name: 'nats-users-probe', value: 'probe-value-1' });
    expect(created.status).toBe(201);
    expect((await api('GET', `/api/v1/vault/secrets/${created.body.id as string}/value`, token)).status).toBe(200);
    const actions = await eventually(
      async () => (await query<{ action: string }>(db.url, `select distinct action from identity.audit_log`)).map((r) => r.action),
      (a) => a.includes('login_failed') && a.includes('secret_revealed'),
    );
    expect(actions).toEqual(expect.arrayContaining(['login_failed', 'secret_revealed']));
  });

  it('the gateway reads every work queue as its own user: /system/queues and the csda_queue_* gauges on its ops port', async () => {
    const login = await api('POST', '/api/v1/auth/login', undefined, { username: 'admin', password: stack!.env.ADMIN_INITIAL_PASSWORD });
    const res = await api('GET', '/api/v1/system/queues', login.body.access_token as string);
    expect(res.status).toBe(200);
    const items = res.body.items as { queue: string; state: string }[];
    expect(items.map((q) => q.queue)).toEqual(['JOBS_DOCUMENTS', 'JOBS_SEARCH', 'JOBS_SECRETS', 'JOBS_TOOLS']);
    // The vault's worker created its consumer; whatever the others did, nothing is "unavailable" for lack of a permission.
    expect(items.find((q) => q.queue === 'JOBS_SECRETS')?.state).toBe('ok');
    for (const q of items) expect(q.state, q.queue).not.toBe('unavailable');
    const metrics = await (await fetch(`http://127.0.0.1:${stack!.env.OPS_PORT}/metrics`)).text();
    expect(metrics).toMatch(/csda_queue_consumer_present\{[^}]*queue="JOBS_SECRETS"[^}]*\} 1/);
  });

  it('no service needed more than its permissions: the server logged no violation', () => {
    expect(nats.output()).toContain('Server is ready');
    expect(nats.output()).not.toMatch(/Violation/);
  });
});
