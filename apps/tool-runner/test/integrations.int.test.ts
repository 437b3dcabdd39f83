import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { VaultService } from '@csda/proto/csda/vault/v1/vault_pb.js';
import { adminUrl, query, runCommand, startService } from '@csda/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError, json, startHarness, toolInput, user, value, type Harness, type ToolRunner } from './support/harness.ts';

// api_call against a local server, secrets from a real vault, sql_query against a read-only role.
let h: Harness;
let tr: ToolRunner;
let vault: Client<typeof VaultService>;
let stopVault: () => Promise<unknown>;
let server: Server;
let port: number;
const seen: { url: string; headers: IncomingMessage['headers']; body: string }[] = [];
const alice = user('alice');
const bob = user('bob');
const role = `csda_ro_${randomBytes(4).toString('hex')}`;
const rolePassword = randomBytes(12).toString('hex');

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      if (req.url?.startsWith('/redirect')) {
        res.writeHead(302, { location: 'http://10.0.0.5/inside' }).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ path: req.url, key: req.headers['x-api-key'] ?? null, body: body ? JSON.parse(body) : null }));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;

  h = await startHarness('tools-integrations');
  const vaultEnv = { ...h.env, ...h.keys.envFor('vault'), VAULT_URL: '', LOG_LEVEL: 'warn' };
  const migrated = await runCommand('vault', 'migrate', vaultEnv);
  if (migrated.code !== 0) throw new Error(`vault migrate: ${migrated.stderr}`);
  const v = await startService('vault', vaultEnv);
  stopVault = v.stop;
  vault = createClient(VaultService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${v.rpcPort}` }));
  tr = await h.start({ VAULT_URL: `http://127.0.0.1:${v.rpcPort}`, TOOLS_HTTP_ALLOW: '127.0.0.1', TOOLS_SQL_ALLOW: '127.0.0.1' });

  // A read-only role and a table in the test database.
  await query(adminUrl(), `create role ${role} login password '${rolePassword}'`);
  await query(h.db.url, `create schema ds; create table ds.items (id int primary key, name text); insert into ds.items select g, 'item ' || g from generate_series(1, 50) g;
    grant usage on schema ds to ${role}; grant select on ds.items to ${role}`);
}, 120_000);

afterAll(async () => {
  await stopVault?.();
  await h?.close();
  await query(adminUrl(), `drop role if exists ${role}`).catch(() => undefined);
  server?.close();
});

const secret = async (owner = alice, v = `sk-${randomBytes(12).toString('hex')}`, name = `s-${randomBytes(3).toString('hex')}`) =>
  ({ id: (await vault.createSecret({ name, value: v }, await h.asFor(owner, 'vault'))).secret!.id, value: v });
const run = async (toolId: string, input: unknown, who = alice) => (await tr.client.executeTool({ id: toolId, input: value(input), wait: true }, await h.as(who))).execution!;

describe('api_call', () => {
  it('calls a loopback server only when both the tool and TOOLS_HTTP_ALLOW allow it; params URL-encoded; granted header redacted', async () => {
    const key = await secret();
    const tool = (
      await tr.client.createTool(
        {
          tool: toolInput({
            name: 'echo-api',
            toolType: 'api_call',
            config: { method: 'POST', url: `http://127.0.0.1:${port}/items/{{id}}?q={{q}}`, headers: { 'x-trace': 't-{{id}}' }, body: { id: '{{id}}', note: 'n {{q}}' }, allow_hosts: ['127.0.0.1'] },
            inputSchema: { type: 'object', properties: { id: { type: 'string' }, q: { type: 'string' } } },
            secrets: [{ secretId: key.id, as: 'header:X-Api-Key' }],
          }),
        },
        await h.as(alice),
      )
    ).tool!;
    const e = await run(tool.id, { id: '../admin', q: 'a&b=c#d' });
    expect(e.status).toBe('completed');
    expect(e.exitCode).toBe(200);
    const last = seen.at(-1)!;
    expect(last.url).toBe(`/items/..%2Fadmin?q=a%26b%3Dc%23d`);
    expect(last.headers['x-api-key']).toBe(key.value);
    expect(JSON.parse(last.body)).toEqual({ id: '../admin', note: 'n a&b=c#d' });
    // The server echoed the key back: stored as [REDACTED].
    const out = json(e) as { body: { key: string } };
    expect(out.body.key).toBe('[REDACTED]');
    const [row] = await query<{ t: string }>(h.db.url, 'select output::text as t from tools.executions where id = $1', [e.id]);
    expect(row!.t).not.toContain(key.value);

    const noAllow = (await tr.client.createTool({ tool: toolInput({ name: 'no-allow', toolType: 'api_call', config: { url: `http://127.0.0.1:${port}/x` } }) }, await h.as(alice))).tool!;
    const refused = await run(noAllow.id, {});
    expect(refused.status).toBe('failed');
    expect(refused.error?.code).toBe('EGRESS_REFUSED');
    expect(refused.error?.message).toMatch(/127\.0\.0\.1/);

    const redirect = (await tr.client.createTool({ tool: toolInput({ name: 'redirect', toolType: 'api_call', config: { url: `http://127.0.0.1:${port}/redirect`, allow_hosts: ['127.0.0.1'] } }) }, await h.as(alice))).tool!;
    const r = await run(redirect.id, {});
    expect(r.status).toBe('failed');
    expect(r.error?.code).toBe('EGRESS_REFUSED');
    expect(r.error?.message).toMatch(/10\.0\.0\.5/);
  });
});

describe('secret grants', () => {
  it('needs the owner to see the secret; python gets it in its environment and it never reaches the record', async () => {
    const mine = await secret(alice);
    const bobs = await secret(bob);
    const refused = await describeError(
      tr.client.createTool({ tool: toolInput({ name: 'steal', toolType: 'python_script', config: { code: 'pass' }, secrets: [{ secretId: bobs.id, as: 'env:KEY' }] }) }, await h.as(alice)),
    );
    expect(refused.code).toBe('VALIDATION_ERROR');
    expect(refused.details).toHaveProperty(['secrets[0].secret_id']);
    const noReveal = { ...alice, permissions: alice.permissions.filter((p) => p !== 'secrets:reveal') };
    expect((await describeError(tr.client.createTool({ tool: toolInput({ name: 'nr', toolType: 'python_script', config: { code: 'pass' }, secrets: [{ secretId: mine.id, as: 'env:KEY' }] }) }, await h.as(noReveal)))).details).toHaveProperty('secrets');

    const tool = (
      await tr.client.createTool(
        { tool: toolInput({ name: 'leak', toolType: 'python_script', config: { code: 'import os,sys,json\nk=os.environ["KEY"]\nprint(json.dumps({"k": k, "n": len(k)}))\nsys.stderr.write("key=" + k)' }, secrets: [{ secretId: mine.id, as: 'env:KEY' }], isPublic: true }) },
        await h.as(alice),
      )
    ).tool!;
    const e = await run(tool.id, {}, bob);
    expect(e.status).toBe('completed');
    expect(json(e)).toEqual({ k: '[REDACTED]', n: mine.value.length });
    expect(e.stderr).toBe('key=[REDACTED]');
    const [row] = await query<{ t: string }>(h.db.url, 'select row_to_json(e)::text as t from tools.executions e where id = $1', [e.id]);
    expect(row!.t).not.toContain(mine.value);
    const [outbox] = await query<{ n: number }>(h.db.url, `select count(*)::int as n from tools.outbox where position($1::bytea in payload) > 0`, [Buffer.from(mine.value)]);
    expect(outbox!.n).toBe(0);
    // The vault audited the reveal for alice, by the tool-runner.
    const reveals = await query<{ n: number }>(h.db.url, `select count(*)::int as n from vault.outbox where subject like '%secret_revealed' and aggregate = $1`, [`secret:${mine.id}`]);
    expect(reveals[0]!.n).toBeGreaterThanOrEqual(1);
    expect(tr.logs()).not.toContain(mine.value);
  });
});

describe('sql_query', () => {
  it('reads through a granted datasource, caps rows, refuses writes at save and the write-role warning shows', async () => {
    const url = new URL(h.db.url);
    url.username = role;
    url.password = rolePassword;
    const ds = await secret(alice, url.toString());
    const tool = (
      await tr.client.createTool(
        {
          tool: toolInput({
            name: 'items',
            toolType: 'sql_query',
            config: { datasource: ds.id, query: 'select id, name from ds.items where id > $1 order by id', params: ['{{after}}'], max_rows: 5 },
            inputSchema: { type: 'object', properties: { after: { type: 'integer' } } },
          }),
        },
        await h.as(alice),
      )
    ).tool!;
    expect(tool.secrets).toEqual([expect.objectContaining({ secretId: ds.id, as: 'datasource' })]);
    const e = await run(tool.id, { after: 10 });
    expect(e.status).toBe('completed');
    const out = json(e) as { columns: string[]; rows: { id: number }[]; truncated: boolean };
    expect(out.columns).toEqual(['id', 'name']);
    expect(out.rows.map((r) => r.id)).toEqual([11, 12, 13, 14, 15]);
    expect(out.truncated).toBe(true);
    expect(e.truncated).toBe(true);
    expect(JSON.stringify(e, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toContain(rolePassword);

    for (const bad of ['update ds.items set name = 1', 'select 1; select 2', 'select pg_advisory_lock(1)', 'select * from ds.items for update', 'with d as (delete from ds.items returning *) select * from d', 'set role postgres', 'copy ds.items to stdout', 'do $$ begin end $$', 'call p()']) {
      const err = await describeError(tr.client.createTool({ tool: toolInput({ name: 'bad', toolType: 'sql_query', config: { datasource: ds.id, query: bad } }) }, await h.as(alice)));
      expect(err.details, bad).toHaveProperty(['config.query']);
    }

    // A role that can write: the result carries the warning.
    const writer = await secret(alice, h.db.url);
    const w = (await tr.client.createTool({ tool: toolInput({ name: 'writer', toolType: 'sql_query', config: { datasource: writer.id, query: 'select count(*) as n from ds.items' } }) }, await h.as(alice))).tool!;
    const we = await run(w.id, {});
    expect(we.status).toBe('completed');
    expect(we.warnings.join(' ')).toMatch(/write/i);
  });
});
