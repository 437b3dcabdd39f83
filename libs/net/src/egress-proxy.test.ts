import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllowList } from './allow-list.ts';
import { connectVia, httpsOverTunnel, startProxy, viaProxy } from './egress-proxy-harness.ts';
import { selfSignedCertificate, startHttpServer, startHttpsServer, type TestCertificate, type TestServer } from './test-support.ts';

// Who may go where through a sandbox's egress proxy: the api_call decisions, for CONNECT and absolute-form http.
let http: TestServer;
let https: TestServer;
let cert: TestCertificate;
beforeAll(async () => {
  cert = selfSignedCertificate();
  http = await startHttpServer();
  https = await startHttpsServer(cert);
});
afterAll(async () => {
  await http.close();
  await https.close();
});

const LOOPBACK_OK = { operatorAllow: parseAllowList('127.0.0.0/8') };

describe('egress proxy: destinations', () => {
  it('refuses http://127.0.0.1 with the reason in the status line and body; the server sees nothing', async () => {
    const h = await startProxy();
    try {
      const before = http.connections();
      const r = await viaProxy(h.path, `http://127.0.0.1:${http.port}/ok`);
      const reason = "host 127.0.0.1 is a loopback address and not allow-listed (neither the tool's allow_hosts nor the operator's TOOLS_HTTP_ALLOW lists it)";
      expect(r.status).toBe(403);
      expect(r.statusMessage).toBe(reason);
      expect(r.body).toBe(`${reason}\n`);
      expect(http.connections()).toBe(before);
      expect(h.dialled).toEqual([]);
      expect(h.proxy.events()).toEqual([{ kind: 'refused', target: `GET http://127.0.0.1:${http.port}`, message: reason }]);
      expect(h.proxy.stats()).toMatchObject({ refused: 1, requests: 0, tunnels: 0 });
    } finally {
      await h.close();
    }
  });

  it('refuses CONNECT to loopback, in every encoding the URL parser folds into 127.0.0.1, and IPv6 loopback', async () => {
    const h = await startProxy();
    try {
      const before = https.connections();
      for (const host of ['127.0.0.1', '2130706433', '0x7f.1', '127.1', '[::1]', '[::ffff:127.0.0.1]']) {
        const r = await connectVia(h.path, `${host}:${https.port}`);
        expect(r.status, host).toBe(403);
        expect(r.statusMessage, host).toMatch(/^host (127\.0\.0\.1|::1|::ffff:7f00:1.*) is a loopback address and not allow-listed/);
      }
      expect(https.connections()).toBe(before);
      expect(h.dialled).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it('refuses names that resolve inside (private, metadata, a rebinding mix) without dialling anything', async () => {
    const h = await startProxy({ ...LOOPBACK_OK, toolAllowHosts: ['mixed.test', '127.0.0.0/8'] });
    try {
      const priv = await connectVia(h.path, 'private.test:443');
      // allow_hosts holds a CIDR, so a name is judged by what it resolves to
      expect(priv.statusMessage).toBe("host private.test (resolving to 10.0.0.5) is not in this tool's allow_hosts");
      const h2 = await startProxy();
      try {
        const p = await viaProxy(h2.path, 'http://private.test/x');
        expect(p.statusMessage).toBe("host private.test resolves to 10.0.0.5, which is a private address and not allow-listed (neither the tool's allow_hosts nor the operator's TOOLS_HTTP_ALLOW lists it)");
        const m = await connectVia(h2.path, 'meta.test:80');
        expect(m.statusMessage).toMatch(/^host meta\.test resolves to 169\.254\.169\.254, which is a link-local address \(the cloud metadata service\) and not allow-listed/);
        expect(h2.asked).toEqual(['private.test', 'meta.test']);
        expect(h2.dialled).toEqual([]);
      } finally {
        await h2.close();
      }
      // one good address beside a private one: refused, so a rebinding name cannot pick the inside one
      const mixed = await connectVia(h.path, `mixed.test:${https.port}`);
      expect(mixed.status).toBe(403);
      expect(mixed.statusMessage).toMatch(/^host mixed\.test resolves to 10\.0\.0\.5, which is a private address/);
      expect(h.dialled).toEqual([]);
      expect(h.violations).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it('forwards http to an allow-listed name through the injected resolver, connecting to the checked address', async () => {
    const h = await startProxy({ ...LOOPBACK_OK, toolAllowHosts: ['a.test'] });
    try {
      const seen = http.requests.length;
      const r = await viaProxy(h.path, `http://a.test:${http.port}/echo?q=1`, {
        method: 'POST',
        headers: { 'x-custom': 'kept', 'proxy-authorization': 'Basic c2VjcmV0', connection: 'keep-alive, x-drop', 'x-drop': 'hop', 'content-type': 'text/plain' },
        body: 'payload',
      });
      expect(r.status).toBe(200);
      const echoed = JSON.parse(r.body) as { method: string; url: string; headers: Record<string, string>; body: string };
      expect(echoed).toMatchObject({ method: 'POST', url: '/echo?q=1', body: 'payload' });
      expect(echoed.headers).toMatchObject({ host: `a.test:${http.port}`, 'x-custom': 'kept' });
      expect(echoed.headers['proxy-authorization']).toBeUndefined();
      expect(echoed.headers['x-drop']).toBeUndefined();
      expect(http.requests.length).toBe(seen + 1);
      expect(h.asked).toEqual(['a.test']);
      expect(h.dialled).toEqual(['127.0.0.1']);
      expect(h.proxy.events()).toEqual([]);
      expect(h.proxy.stats()).toMatchObject({ requests: 1, refused: 0 });
    } finally {
      await h.close();
    }
  });

  it('tunnels TLS to an allow-listed name; the certificate is checked end to end by the client', async () => {
    const h = await startProxy({ ...LOOPBACK_OK, toolAllowHosts: ['a.test', 'hooks.test'] });
    try {
      const tunnel = await connectVia(h.path, `a.test:${https.port}`);
      expect(tunnel.status).toBe(200);
      // the test certificate names hooks.test and 127.0.0.1; the tunnel carries whatever SNI the client sends
      const text = await httpsOverTunnel(tunnel.socket, 'hooks.test', cert.cert, '/ok');
      expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhello$/);
      expect(h.dialled).toEqual(['127.0.0.1']);
      expect(h.proxy.stats().tunnels).toBe(1);
      expect(h.proxy.stats().bytes).toBeGreaterThan(0);
    } finally {
      await h.close();
    }
  });

  it('needs both lists: the tool naming loopback without the operator is refused, and the reverse', async () => {
    const toolOnly = await startProxy({ toolAllowHosts: ['127.0.0.1'] });
    const operatorOnly = await startProxy(LOOPBACK_OK);
    try {
      expect((await viaProxy(toolOnly.path, `http://127.0.0.1:${http.port}/ok`)).statusMessage).toMatch(/the operator's TOOLS_HTTP_ALLOW does not permit it\)$/);
      expect((await viaProxy(operatorOnly.path, `http://127.0.0.1:${http.port}/ok`)).statusMessage).toMatch(/the tool's allow_hosts does not list it\)$/);
      expect([...toolOnly.dialled, ...operatorOnly.dialled]).toEqual([]);
    } finally {
      await toolOnly.close();
      await operatorOnly.close();
    }
  });
});
