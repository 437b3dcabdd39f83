import { parseAllowList } from '@csda/net';
import { createSandbox } from '@csda/sandbox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandboxExecutors } from '../src/executors/sandbox.executor.ts';
import type { ExecutorRequest } from '../src/executors/executor.types.ts';
import type { ToolDefinition } from '../src/tools/tool.types.ts';
import { httpServer, httpsServer, loopbackDial, tableResolver, type LocalServer } from './support/egress-fixtures.ts';

// network: true python and shell tools in the real bubblewrap sandbox, behind the real egress proxy; names
// resolve through a table and only loopback is ever dialled.
let http: LocalServer;
let https: LocalServer & { ca: string };
beforeAll(async () => {
  http = await httpServer();
  https = await httpsServer('svc.test');
});
afterAll(async () => {
  await http.close();
  await https.close();
});

const TABLE = { 'svc.test': ['127.0.0.1'], 'inside.test': ['10.0.0.5'] };
const sandbox = createSandbox({ mode: 'bwrap' });

function executors(operatorAllow = '') {
  const resolver = tableResolver(TABLE);
  const dial = loopbackDial();
  const x = createSandboxExecutors({ sandbox, memoryBytes: 512 * 1024 * 1024, processes: 32, egress: { operatorAllow: parseAllowList(operatorAllow), resolver, connector: dial.dial } });
  return { ...x, resolver, dial };
}

const tool = (over: Partial<ToolDefinition>): ToolDefinition => ({
  name: 't', description: '', toolType: 'python_script', config: {}, inputSchema: {}, timeoutS: 20, maxOutputBytes: 1 << 20, network: true, secrets: [], isPublic: false, sharedWithRoles: [], ...over,
});
const req = (t: ToolDefinition, input: Record<string, unknown> = {}): ExecutorRequest => ({ executionId: 'e', toolId: 't', tool: t, input, secrets: { env: {}, headers: {} }, signal: new AbortController().signal });
const py = (code: string, config: Record<string, unknown> = {}, over: Partial<ToolDefinition> = {}) => tool({ config: { code, ...config }, ...over });

const URLOPEN = `
import json, sys, urllib.request, urllib.error
url = json.load(sys.stdin)["url"]
try:
    r = urllib.request.urlopen(url, timeout=10)
    print(json.dumps({"status": r.status, "body": json.loads(r.read())}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "reason": e.reason}))
`;

describe('network: true in the sandbox', () => {
  it('a raw socket to the loopback test server fails even when the allow lists permit it; the server sees nothing', async () => {
    const x = executors('127.0.0.1');
    const before = http.connections();
    const r = await x.python(req(py(`
import socket
try:
    socket.create_connection(("127.0.0.1", ${http.port}), timeout=3)
    print("connected")
except OSError as e:
    print(type(e).__name__)
`, { allow_hosts: ['127.0.0.1'] })));
    expect(r.output).toBe('ConnectionRefusedError\n');
    expect(http.connections()).toBe(before);
    expect(x.dial.dialled).toEqual([]);
  });

  it('urllib through the proxy to 127.0.0.1 is refused with the reason; the server sees nothing; the record says why', async () => {
    const x = executors();
    const before = http.connections();
    const r = await x.python(req(py(URLOPEN), { url: `http://127.0.0.1:${http.port}/secret` }));
    const reason = "host 127.0.0.1 is a loopback address and not allow-listed (neither the tool's allow_hosts nor the operator's TOOLS_HTTP_ALLOW lists it)";
    expect(r.status).toBe('completed');
    expect(r.output).toEqual({ status: 403, reason });
    expect(r.stderr).toBe(`[egress] refused GET http://127.0.0.1:${http.port}: ${reason}\n`);
    expect(r.warnings).toEqual([`egress refused GET http://127.0.0.1:${http.port}: ${reason}`]);
    expect(http.connections()).toBe(before);
    expect(x.dial.dialled).toEqual([]);
  });

  it('https through CONNECT to loopback is refused the same way (Python shows the reason from the status line)', async () => {
    const x = executors();
    const before = https.connections();
    const r = await x.python(req(py(`
import sys, urllib.request
try:
    urllib.request.urlopen("https://127.0.0.1:${https.port}/", timeout=10)
except OSError as e:
    print(e)
`)));
    expect(r.output).toMatch(/^<urlopen error Tunnel connection failed: 403 host 127\.0\.0\.1 is a loopback address and not allow-listed/);
    expect(https.connections()).toBe(before);
  });

  it('with the operator and the tool allowing it, a DNS name resolved by the proxy reaches the server (http and https)', async () => {
    const x = executors('127.0.0.1');
    const allow = { allow_hosts: ['svc.test'] };
    const r = await x.python(req(py(URLOPEN, allow), { url: `http://svc.test:${http.port}/through-the-proxy?x=1` }));
    expect(r.status).toBe('completed');
    expect(r.output).toEqual({ status: 200, body: { hello: 'from the loopback server', path: '/through-the-proxy?x=1' } });
    expect(http.seen.at(-1)).toEqual({ url: '/through-the-proxy?x=1', host: `svc.test:${http.port}` });
    expect(r.stderr).toBe('');
    const tls = await x.python(req(py(`
import json, ssl, sys, urllib.request
open("ca.pem", "w").write(json.load(sys.stdin)["ca"])
ctx = ssl.create_default_context(cafile="ca.pem")
print(urllib.request.urlopen("https://svc.test:${https.port}/tls", timeout=10, context=ctx).read().decode())
`, allow), { ca: https.ca }));
    expect(tls.output).toEqual({ hello: 'from the loopback server', path: '/tls' });
    expect(x.resolver.asked).toEqual(['svc.test', 'svc.test']);
    expect(x.dial.dialled).toEqual(['127.0.0.1', '127.0.0.1']);
    // inside, the name does not resolve at all: only the proxy resolves
    const dns = await x.python(req(py('import socket\ntry:\n    socket.getaddrinfo("svc.test", 80)\nexcept OSError as e:\n    print(type(e).__name__)', allow)));
    expect(dns.output).toBe('gaierror\n');
  });

  it('a name resolving to a private address is refused naming both; nothing is dialled', async () => {
    const x = executors('127.0.0.1');
    const r = await x.python(req(py(URLOPEN), { url: 'http://inside.test/admin' }));
    expect(r.output).toEqual({ status: 403, reason: "host inside.test resolves to 10.0.0.5, which is a private address and not allow-listed (neither the tool's allow_hosts nor the operator's TOOLS_HTTP_ALLOW lists it)" });
    expect(x.resolver.asked).toEqual(['inside.test']);
    expect(x.dial.dialled).toEqual([]);
    expect(x.dial.violations).toEqual([]);
  });

  it('a shell tool (curl) uses the proxy too and gets the refusal', async () => {
    const x = executors();
    const r = await x.shell(req(tool({ toolType: 'shell_command', config: { command: ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${http.port}/`] } })));
    expect(r.output).toBe(403);
    expect(r.warnings[0]).toMatch(/^egress refused GET http:\/\/127\.0\.0\.1:\d+: host 127\.0\.0\.1 is a loopback address/);
  });

  it('network: false: no proxy variables, no relay, the proxy port closed', async () => {
    const x = executors('127.0.0.1');
    const r = await x.python(req(py('import os, socket\nprint(sorted(k for k in os.environ if "proxy" in k.lower()))\ntry:\n    socket.create_connection(("127.0.0.1", 3128), timeout=2)\nexcept OSError as e:\n    print(type(e).__name__)', {}, { network: false })));
    expect(r.output).toBe('[]\nConnectionRefusedError\n');
  });
});
