import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeError, json, startHarness, toolInput, user, value, type Harness, type ToolRunner } from './support/harness.ts';
import { httpServer, type LocalServer } from './support/egress-fixtures.ts';

// network: true through the running service: the sandbox's own network namespace, the per-execution egress
// proxy with TOOLS_HTTP_ALLOW (127.0.0.1 here) AND the tool's allow_hosts; the record says why when refused.
let h: Harness;
let tr: ToolRunner;
let server: LocalServer;
const alice = user('alice');

beforeAll(async () => {
  server = await httpServer();
  h = await startHarness('tools-network');
  tr = await h.start({ TOOLS_HTTP_ALLOW: '127.0.0.1' });
}, 120_000);
afterAll(async () => {
  await h?.close();
  await server?.close();
});

const create = async (config: Record<string, unknown>, network = true, toolType = 'python_script') =>
  (await tr.client.createTool({ tool: toolInput({ name: `net-${Math.random().toString(36).slice(2, 8)}`, toolType, config, network }) }, await h.as(alice))).tool!;
const run = async (toolId: string, input: unknown) => (await tr.client.executeTool({ id: toolId, input: value(input), wait: true }, await h.as(alice))).execution!;

const FETCH = `
import json, socket, sys, urllib.request, urllib.error
port = json.load(sys.stdin)["port"]
res = {}
try:
    socket.create_connection(("127.0.0.1", port), timeout=3)
    res["direct"] = "connected"
except OSError as e:
    res["direct"] = type(e).__name__
try:
    res["proxied"] = urllib.request.urlopen("http://127.0.0.1:%d/via-proxy" % port, timeout=10).read().decode()
except urllib.error.HTTPError as e:
    res["proxied"] = "%d %s" % (e.code, e.reason)
print(json.dumps(res))
`;

describe('network: true tools through the service', () => {
  it('without allow_hosts: no direct route, the proxy refuses loopback saying why, the server sees nothing', async () => {
    const tool = await create({ code: FETCH });
    const before = server.connections();
    const e = await run(tool.id, { port: server.port });
    const reason = "host 127.0.0.1 is a loopback address and not allow-listed (the tool's allow_hosts does not list it)";
    expect(e.status).toBe('completed');
    expect(json(e)).toEqual({ direct: 'ConnectionRefusedError', proxied: `403 ${reason}` });
    expect(e.stderr).toBe(`[egress] refused GET http://127.0.0.1:${server.port}: ${reason}\n`);
    expect(e.warnings).toEqual([`egress refused GET http://127.0.0.1:${server.port}: ${reason}`]);
    expect(server.connections()).toBe(before);
  });

  it('allow_hosts naming the server (and TOOLS_HTTP_ALLOW permitting it): through the proxy only; direct still fails', async () => {
    const tool = await create({ code: FETCH, allow_hosts: ['127.0.0.1'] });
    const e = await run(tool.id, { port: server.port });
    expect(e.status).toBe('completed');
    expect(json(e)).toEqual({ direct: 'ConnectionRefusedError', proxied: JSON.stringify({ hello: 'from the loopback server', path: '/via-proxy' }) });
    expect(server.seen.at(-1)).toEqual({ url: '/via-proxy', host: `127.0.0.1:${server.port}` });
    expect(e.warnings).toEqual([]);
  });

  it('a program that exits non-zero after a refusal has it in its error', async () => {
    const tool = await create({ code: 'import urllib.request\nurllib.request.urlopen("http://127.0.0.1:9/", timeout=5)' });
    const e = await run(tool.id, {});
    expect(e.status).toBe('failed');
    expect(e.error?.code).toBe('EXIT_CODE');
    expect(e.error?.message).toBe("the program exited with code 1 (egress refused GET http://127.0.0.1:9: host 127.0.0.1 is a loopback address and not allow-listed (the tool's allow_hosts does not list it))");
  });

  it('allow_hosts on a python/shell tool needs network: true and valid entries, each bad field named', async () => {
    const off = await describeError(tr.client.createTool({ tool: toolInput({ name: 'x', toolType: 'python_script', config: { code: 'pass', allow_hosts: ['127.0.0.1'] } }) }, await h.as(alice)));
    expect(off.code).toBe('VALIDATION_ERROR');
    expect(off.details).toEqual({ 'config.allow_hosts': 'applies only with network: true (the hosts the egress proxy may reach)' });
    const bad = await describeError(tr.client.createTool({ tool: toolInput({ name: 'y', toolType: 'shell_command', network: true, config: { command: ['true'], allow_hosts: ['ok.example', 'a b'] } }) }, await h.as(alice)));
    expect(Object.keys(bad.details ?? {})).toEqual(['config.allow_hosts[1]']);
    const ok = await create({ command: ['true'], allow_hosts: ['API.example.com', '10.0.0.0/8'] }, true, 'shell_command');
    expect(ok.config).toEqual({ command: ['true'], allow_hosts: ['api.example.com', '10.0.0.0/8'] });
  });
});
