import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { auditOutboxMessage, connectNats, ensureStreams, isPermissionViolation, type Nats } from '@csda/service-kit';
import { freePort } from '@csda/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_STACK_NATS_PORT, planStackNats, prepareStackNats } from './nats.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** An audit record published under `service`'s name the way the outbox relay publishes it. */
async function publishAudit(nats: Nats, service: string, fact: { action: string; actor: string }): Promise<void> {
  const message = auditOutboxMessage(nats.subjects, service, fact);
  await nats.js.publish(message.subject, message.payload, { msgID: message.eventId });
}

describe('planStackNats', () => {
  it('runs its own server on CSDA_NATS_PORT unless NATS_URL is given', () => {
    expect(planStackNats({ NATS_URL: 'nats://10.0.0.1:4222' }, '/d', '127.0.0.1')).toBeNull();
    const plan = planStackNats({}, '/d', '0.0.0.0');
    expect(plan?.url).toBe(`nats://127.0.0.1:${DEFAULT_STACK_NATS_PORT}`);
    expect(plan?.configFile).toBe('/d/nats-stack/nats-server.conf');
    expect(planStackNats({ CSDA_NATS_PORT: '4999', NATS_NAMESPACE: 'dev' }, '/d', '127.0.0.1')).toMatchObject({ port: 4999, namespace: 'dev' });
    expect(() => planStackNats({ CSDA_NATS_PORT: 'x' }, '/d', '127.0.0.1')).toThrow(/CSDA_NATS_PORT/);
  });
});

describe("npm start's own nats-server (real nats-server on a free port)", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'csda-stack-nats-'));
  afterAll(() => {
    try {
      process.kill(Number(readFileSync(path.join(dataDir, 'nats-stack', 'nats-server.pid'), 'utf8')), 'SIGTERM');
    } catch {
      // not started
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts with per-service users, provisions the streams, survives a restart with the same passwords', async () => {
    const port = await freePort();
    const services = ['vault', 'tool-runner', 'gateway'].map((name) => ({ name, env: {} as Record<string, string> }));
    const opts = { env: { CSDA_NATS_PORT: String(port), NATS_NAMESPACE: 'stk' }, dataDir, host: '127.0.0.1', root };
    expect(await prepareStackNats(services, opts)).toContain(`127.0.0.1:${port}`);
    const [vault, tool] = services.map((s) => s.env);
    expect(vault).toMatchObject({ NATS_URL: `nats://127.0.0.1:${port}`, NATS_USER: 'stk_vault' });
    expect(statSync(path.join(dataDir, 'nats-stack', 'nats-server.conf')).mode & 0o077).toBe(0);

    const again = services.map((s) => ({ name: s.name, env: {} as Record<string, string> }));
    await prepareStackNats(again, opts); // restarts the server of the first run
    expect(again[0]?.env.NATS_PASSWORD).toBe(vault?.NATS_PASSWORD);

    const v = await connectNats(vault?.NATS_URL as string, 'vault', 'stk', { user: vault?.NATS_USER as string, password: vault?.NATS_PASSWORD as string });
    const t = await connectNats(tool?.NATS_URL as string, 'tool-runner', 'stk', { user: tool?.NATS_USER as string, password: tool?.NATS_PASSWORD as string });
    try {
      await ensureStreams(v);
      await publishAudit(v, 'vault', { action: 'probe', actor: 'service:vault' });
      const forged = await publishAudit(t, 'vault', { action: 'secret_revealed', actor: 'u' }).then(() => undefined, (err: unknown) => err);
      expect(isPermissionViolation(forged)).toBe(true);
    } finally {
      await v.connection.close();
      await t.connection.close();
    }
  });
});
