import { once } from 'node:events';
import {
  createTestDatabase,
  deleteNamespace,
  findSamples,
  freePort,
  generateTestKeys,
  natsUrl,
  parsePrometheus,
  runCommand,
  spawnService,
  testNamespace,
  type RunningService,
  type TestDatabase,
} from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The gateway as a real production process (NODE_ENV=production): /metrics
 * lives only on OPS_PORT, which the NetworkPolicy keeps away from the ingress;
 * the public REST port answers 404 for it and keeps /healthz and /readyz.
 */
describe('gateway ops port in production', () => {
  const namespace = testNamespace();
  let db: TestDatabase;
  let gateway: RunningService | undefined;
  let rest: string;
  let ops: string;

  beforeAll(async () => {
    db = await createTestDatabase('gw_ops');
    const opsPort = await freePort();
    const env = {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      DATABASE_URL: db.url,
      NATS_URL: natsUrl(),
      NATS_NAMESPACE: namespace,
      REDIS_KEY_PREFIX: `${namespace}:`,
      OPS_PORT: String(opsPort),
      ...generateTestKeys().envFor('gateway'),
    };
    const migrate = await runCommand('gateway', 'migrate', env);
    expect(migrate.code, migrate.stderr + migrate.stdout).toBe(0);
    gateway = spawnService('gateway', env, await freePort(), await freePort());
    rest = `http://127.0.0.1:${gateway.httpPort}`;
    ops = `http://127.0.0.1:${opsPort}`;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (gateway.process.exitCode !== null) throw new Error(`gateway exited ${gateway.process.exitCode}:\n${gateway.logs()}`);
      if ((await fetch(`${rest}/healthz`).catch(() => undefined))?.status === 200 && (await fetch(`${ops}/healthz`).catch(() => undefined))?.status === 200) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`gateway did not come up:\n${gateway.logs()}`);
  }, 60_000);

  afterAll(async () => {
    if (gateway && gateway.process.exitCode === null) {
      const exited = once(gateway.process, 'exit');
      gateway.process.kill('SIGTERM');
      await exited;
    }
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('answers 404 for /metrics on the REST port and keeps the probes there', async () => {
    const res = await fetch(`${rest}/metrics`);
    expect(res.status).toBe(404);
    const body = await res.text();
    expect(body).not.toContain('csda_');
    expect(JSON.parse(body).error.code).toBe('NOT_FOUND');
    expect((await fetch(`${rest}/healthz`)).status).toBe(200);
    // No backend runs here: not ready, and the public answer names no addresses or errors.
    const ready = await fetch(`${rest}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|detail/);
  });

  it('serves the REST, backend RPC and consumer metrics on the ops port', async () => {
    await fetch(`${rest}/api/v1/nothing/here`);
    await fetch(`${rest}/readyz`);
    const res = await fetch(`${ops}/metrics`);
    expect(res.status).toBe(200);
    const samples = parsePrometheus(await res.text());
    expect(findSamples(samples, 'csda_http_requests_total', { route: '/healthz', status: '200', service: 'gateway' })[0]?.value).toBeGreaterThanOrEqual(1);
    expect(findSamples(samples, 'csda_http_requests_total', { route: '/metrics' })).toEqual([]);
    expect(findSamples(samples, 'csda_http_requests_total', { route: 'unmatched', status: '404' }).reduce((n, s) => n + s.value, 0)).toBeGreaterThanOrEqual(2);
    expect(findSamples(samples, 'csda_rpc_client_handled_total', { rpc_service: 'grpc.health.v1.Health', code: 'Unavailable' })[0]?.value).toBeGreaterThanOrEqual(5);
    const audit = { stream: `${namespace}_AUDIT`, consumer: 'gateway-audit-log' };
    expect(findSamples(samples, 'csda_consumer_pending_messages', audit)).toHaveLength(1);
    expect(findSamples(samples, 'csda_consumer_dead_lettered_total', { ...audit, reason: 'exhausted' })[0]?.value).toBe(0);
    expect(findSamples(samples, 'process_resident_memory_bytes')).toHaveLength(1);
  });
});
