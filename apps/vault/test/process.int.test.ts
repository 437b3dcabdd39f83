import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { createTestDatabase, deleteNamespace, freePort, isListening, repoRoot, runCommand, testNamespace, type TestDatabase } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../src/migrations/index.ts';

/** The vault as a real process: start-up failures, readiness against the schema, clean shutdown. */
describe('vault process', () => {
  const namespace = testNamespace();
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('vault_proc');
  });
  afterAll(async () => {
    await db?.drop();
    await deleteNamespace(namespace);
  });

  it('exits 78 naming the bad variable, without a stack trace', async () => {
    const result = await runCommand('vault', 'serve', { RPC_PORT: 'not-a-port', DATABASE_URL: 'mysql://nope' });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('RPC_PORT');
    expect(result.stderr).toContain('DATABASE_URL');
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it('exits 78 on bad rotation and webhook settings, naming each', async () => {
    const result = await runCommand('vault', 'serve', { VAULT_ROTATION_BACKOFF_S: '60,soon', VAULT_ROTATION_CONCURRENCY: '0', VAULT_ROTATION_ACK_WAIT_S: '-1' });
    expect(result.code).toBe(78);
    for (const name of ['VAULT_ROTATION_BACKOFF_S', 'VAULT_ROTATION_CONCURRENCY', 'VAULT_ROTATION_ACK_WAIT_S']) expect(result.stderr).toContain(name);
    const allow = await runCommand('vault', 'serve', { VAULT_WEBHOOK_ALLOW: '10.0.0.0/99' });
    expect(allow.code).toBe(78);
    expect(allow.stderr).toContain('VAULT_WEBHOOK_ALLOW');
    const ca = await runCommand('vault', 'serve', { VAULT_WEBHOOK_CA_FILE: '/nonexistent/ca.pem' });
    expect(ca.code).toBe(78);
    expect(ca.stderr).toContain('VAULT_WEBHOOK_CA_FILE');
  });

  it('exits 78 on a malformed VAULT_POSTGRES_ALLOW, naming the variable and the bad entry', async () => {
    for (const value of ['10.0.0.0/99', 'db.internal,*bad*', '127.0.0.1/8/8']) {
      const result = await runCommand('vault', 'serve', { VAULT_POSTGRES_ALLOW: value });
      expect(result.code).toBe(78);
      expect(result.stderr).toContain('VAULT_POSTGRES_ALLOW: Invalid allow-list entry');
      expect(result.stderr).not.toMatch(/^\s+at /m);
    }
  });

  it('exits 64 on an unknown command', async () => {
    const result = await runCommand('vault', 'frobnicate', {});
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('unknown command "frobnicate"');
  });

  it('retries an unreachable database with clear log lines, then exits 69 without a stack trace', async () => {
    const deadPort = await freePort();
    const result = await runCommand('vault', 'serve', {
      DATABASE_URL: `postgres://postgres:hunter2@127.0.0.1:${deadPort}/csda`,
      STARTUP_TIMEOUT_MS: '1500',
      NATS_NAMESPACE: namespace,
    });
    expect(result.code).toBe(69);
    const waits = result.stdout.split('\n').filter((l) => l.includes('waiting for postgres'));
    expect(waits.length).toBeGreaterThanOrEqual(2);
    expect(result.stderr).toContain(`postgres at postgres://127.0.0.1:${deadPort}/csda is unreachable`);
    expect(result.stdout + result.stderr).not.toContain('hunter2');
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });

  it('is not ready while its schema is behind, ready after migrate, and leaves nothing listening after SIGTERM', async () => {
    const [rpc, ops] = [await freePort(), await freePort()];
    const env = { ...process.env, DATABASE_URL: db.url, NATS_NAMESPACE: namespace, HOST: '127.0.0.1', RPC_PORT: String(rpc), OPS_PORT: String(ops), NODE_ENV: 'test' };
    const child = spawn(process.execPath, ['apps/vault/src/main.ts', 'serve'], { cwd: repoRoot, env, stdio: 'pipe' });
    let logs = '';
    child.stdout.on('data', (d: Buffer) => (logs += d.toString()));
    try {
      const readyz = async () => {
        const res = await fetch(`http://127.0.0.1:${ops}/readyz`).catch(() => undefined);
        return res ? { status: res.status, body: (await res.json()) as { checks: Record<string, { ok: boolean; detail?: string }> } } : undefined;
      };
      let first = await readyz();
      for (let i = 0; i < 100 && !first; i++) first = await new Promise((r) => setTimeout(r, 100)).then(readyz);
      expect(first?.status).toBe(503);
      expect(first?.body.checks.postgres?.detail).toContain(`schema behind: ${migrations.length} pending migration`);

      expect((await runCommand('vault', 'migrate', { DATABASE_URL: db.url, NATS_NAMESPACE: namespace })).code).toBe(0);
      expect((await readyz())?.status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${ops}/healthz`)).status).toBe(200);
      expect(await (await fetch(`http://127.0.0.1:${ops}/metrics`)).text()).toContain('process_resident_memory_bytes');
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
    }
    expect(logs).toContain('"msg":"shutting down"');
    expect(await isListening(rpc)).toBe(false);
    expect(await isListening(ops)).toBe(false);
  });
});
