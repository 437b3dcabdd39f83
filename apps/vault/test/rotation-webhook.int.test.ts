import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateWebhookSecret, verifyWebhook } from '@csda/net';
import { query, waitFor } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError, startHarness, user, type Vault, type VaultHarness } from './support/vault-harness.ts';

const alice = user('alice');

interface Received {
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly verified: boolean;
}

/** The webhook strategy against a local HTTPS receiver that verifies Standard Webhooks signatures. */
describe('vault webhook rotation', () => {
  let h: VaultHarness;
  let vault: Vault;
  let server: Server;
  let base: string;
  let dir: string;
  const signing = generateWebhookSecret();
  const received: Received[] = [];
  const seen: string[] = [signing];
  let signingId = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'csda-hook-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
        let verified = true;
        try {
          verifyWebhook(signing, headers, body);
        } catch {
          verified = false;
        }
        const path = req.url ?? '';
        received.push({ path, headers, body, verified });
        if (!verified) return void res.writeHead(401).end();
        if (path === '/ok') return void res.writeHead(204).end();
        if (path === '/fail') return void res.writeHead(500).end('boom');
        if (path === '/reject') return void res.writeHead(400).end();
        if (path === '/redirect') return void res.writeHead(302, { location: `${base}/ok` }).end();
        if (path === '/pull') {
          const value = `pulled-${(JSON.parse(body) as { version: number }).version}-${Math.random().toString(36).slice(2)}`;
          seen.push(value);
          return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ value }));
        }
        res.writeHead(404).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    h = await startHarness('vault_hook', { VAULT_ROTATION_BACKOFF_S: '1,1', VAULT_ROTATION_ACK_WAIT_S: '5' });
  }, 90_000);
  afterAll(async () => {
    const logs = h?.logs() ?? '';
    for (const s of seen) expect(logs).not.toContain(s);
    await h?.close();
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const hook = async (name: string, path: string, extra: Record<string, string | number> = {}) =>
    (await vault.client.createSecret(
      { name, value: `initial-${name}`, rotation: { enabled: true, intervalDays: 7, strategy: 'webhook', policy: { url: `${base}${path}`, signing_secret_id: signingId, timeout_ms: 5_000, ...extra } } },
      await h.as(alice),
    )).secret!;
  const row = async (id: string) =>
    (await query<{ current_version: number; pending_version: number | null; rotation_state: string; rotation_last_error: string | null }>(
      h.db.url,
      'select current_version, pending_version, rotation_state, rotation_last_error from vault.secrets where id = $1',
      [id],
    ))[0]!;

  it('refuses a loopback endpoint without an operator allow list, sending nothing', async () => {
    vault = await h.start();
    signingId = (await vault.client.createSecret({ name: 'hook-signing', value: signing }, await h.as(alice))).secret!.id;
    const s = await hook('ssrf', '/ok');
    const err = await describeError(vault.client.rotateSecret({ id: s.id }, await h.as(alice)));
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toMatch(/egress guard/);
    expect(received).toHaveLength(0);
    expect(await row(s.id)).toMatchObject({ current_version: 1, rotation_state: 'failed' });
    expect((await row(s.id)).rotation_last_error).toMatch(/^webhook refused by the egress guard/);
    await vault.stop();
    // From here on the operator allow-lists the receiver and trusts its CA.
    vault = await h.start({ VAULT_WEBHOOK_ALLOW: '127.0.0.1', VAULT_WEBHOOK_CA_FILE: join(dir, 'cert.pem') });
  });

  it('pushes the new value signed, and promotes it on a 2xx', async () => {
    const s = await hook('push', '/ok');
    const rotated = (await vault.client.rotateSecret({ id: s.id }, await h.as(alice))).secret!;
    expect(rotated).toMatchObject({ currentVersion: 2, rotation: { status: 'ok', pendingVersion: 0 } });
    const hit = received.filter((r) => r.path === '/ok');
    expect(hit).toHaveLength(1);
    expect(hit[0]!.verified).toBe(true);
    expect(hit[0]!.headers['webhook-id']).toBe(`rotate:${s.id}:2`);
    const body = JSON.parse(hit[0]!.body) as Record<string, unknown>;
    const { value } = await vault.client.revealSecret({ id: s.id }, await h.as(alice));
    seen.push(value);
    expect(body).toEqual({ type: 'secret.rotation', secret_id: s.id, name: 'push', version: 2, value });
    expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);

    // The same through a job: running, then succeeded.
    const jobId = `rotate:${s.id}:${Date.now()}`;
    await h.publishJob({ jobId, secretId: s.id, expectedVersion: 2 });
    await waitFor(async () => (await h.jobResults(jobId)).some((r) => r.status === 'succeeded'), { what: 'job done' });
    expect((await h.jobResults(jobId)).map((r) => r.status)).toEqual(['running', 'succeeded']);
    expect(received.filter((r) => r.path === '/ok').at(-1)!.headers['webhook-id']).toBe(`rotate:${s.id}:3`);
  });

  it('retries a 500 with the same webhook-id and value, then dead-letters and marks the secret failed', async () => {
    const s = await hook('fail', '/fail');
    const jobId = `rotate:${s.id}:${Date.now()}`;
    await h.publishJob({ jobId, secretId: s.id, expectedVersion: 1 });
    await waitFor(async () => (await h.jobResults(jobId)).some((r) => r.status === 'dead'), { what: 'dead', timeoutMs: 30_000 });
    expect((await h.jobResults(jobId)).map((r) => `${r.attempt}:${r.status}`)).toEqual(['1:running', '1:retrying', '2:running', '2:retrying', '3:running', '3:dead']);
    const hits = received.filter((r) => r.path === '/fail');
    expect(hits).toHaveLength(3);
    expect(new Set(hits.map((x) => x.headers['webhook-id']))).toEqual(new Set([`rotate:${s.id}:2`]));
    expect(new Set(hits.map((x) => (JSON.parse(x.body) as { value: string }).value)).size).toBe(1);
    seen.push((JSON.parse(hits[0]!.body) as { value: string }).value);
    expect(await row(s.id)).toMatchObject({ current_version: 1, pending_version: 2, rotation_state: 'failed', rotation_last_error: 'webhook answered HTTP 500' });
    expect((await vault.client.revealSecret({ id: s.id }, await h.as(alice))).value).toBe('initial-fail');
    // The unproven version is kept (a later rotation resumes it) and listed as pending, not current.
    const versions = (await vault.client.listSecretVersions({ id: s.id }, await h.as(alice))).items.map((v) => [v.version, v.isCurrent, v.isPending]);
    expect(versions).toEqual(expect.arrayContaining([[1, true, false], [2, false, true]]));
    const dlq = await h.nats.jsm.streams.info(`${h.namespace}_DEAD_LETTER`);
    expect(dlq.state.messages).toBeGreaterThanOrEqual(1);
  });

  it('does not follow redirects, fails at once on a 4xx, and takes the value a pull endpoint answers', async () => {
    const redirect = await hook('redirect', '/redirect');
    const before = received.filter((r) => r.path === '/ok').length;
    expect((await describeError(vault.client.rotateSecret({ id: redirect.id }, await h.as(alice)))).message).toMatch(/HTTP 302 \(redirects are not followed\)/);
    expect(received.filter((r) => r.path === '/ok').length).toBe(before);
    const reject = await hook('reject', '/reject');
    const jobId = `rotate:${reject.id}:${Date.now()}`;
    await h.publishJob({ jobId, secretId: reject.id, expectedVersion: 1 });
    await waitFor(async () => (await h.jobResults(jobId)).some((r) => r.status === 'failed'), { what: 'failed' });
    expect(received.filter((r) => r.path === '/reject')).toHaveLength(1);

    const pull = await hook('pull', '/pull', { mode: 'pull' });
    await vault.client.rotateSecret({ id: pull.id }, await h.as(alice));
    const asked = received.filter((r) => r.path === '/pull').at(-1)!;
    expect(JSON.parse(asked.body)).toEqual({ type: 'secret.rotation.request', secret_id: pull.id, name: 'pull', version: 2 });
    expect((await vault.client.revealSecret({ id: pull.id }, await h.as(alice))).value).toMatch(/^pulled-2-/);
  });
});
