import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSandbox, SandboxError } from '../src/index.ts';
import { limits, loopbackServer, stubEgress } from './helpers.ts';

// How a network: true run reaches its egress proxy: the relay on 127.0.0.1:3128 inside, the proxy variables,
// the per-run socket directory. The proxy here is a stub; the guard behind it is tested in the tool runner.
const sb = createSandbox({ mode: 'bwrap' });
const py = (code: string) => ['python3', '-c', code];
const FORBIDDEN = 'HTTP/1.1 403 host 127.0.0.1 is a loopback address\r\ncontent-length: 3\r\nconnection: close\r\n\r\nno\n';

describe('network: true egress plumbing', () => {
  it('urllib follows HTTP_PROXY to the relay and the proxy; the proxy\'s refusal reaches the program; the target sees nothing', async () => {
    const server = await loopbackServer();
    const egress = stubEgress((soFar) => (soFar.includes('\r\n\r\n') ? FORBIDDEN : null));
    try {
      const r = await sb.run({
        argv: py(`
import urllib.request, urllib.error
try:
    urllib.request.urlopen("http://127.0.0.1:${server.port}/x?token=1", timeout=5)
except urllib.error.HTTPError as e:
    print(e.code, e.reason, e.read().decode().strip())
`),
        env: { HTTP_PROXY: 'http://10.9.9.9:1', NO_PROXY: '127.0.0.1' }, // the sandbox's own values win
        network: true,
        egress: egress.start,
        limits: limits(),
      });
      expect(r.stderr.toString()).toBe('');
      expect(r.stdout.toString()).toBe('403 host 127.0.0.1 is a loopback address no\n');
      expect(egress.received()).toHaveLength(1);
      expect(egress.received()[0]).toMatch(new RegExp(`^GET http://127\\.0\\.0\\.1:${server.port}/x\\?token=1 HTTP/1\\.1\\r\\n`));
      expect(server.connections()).toBe(0);
      expect(egress.closed()).toBe(1);
      expect(existsSync(egress.paths[0]!)).toBe(false); // the run's directory is gone
    } finally {
      await server.close();
    }
  });

  it('the relay carries CONNECT and 2 MiB each way with half-close, 20 connections at once', async () => {
    // a tunnel to an echo server: 200 once the CONNECT head is complete, then every byte back
    const egress = stubEgress((soFar, chunk) => {
      const head = soFar.indexOf('\r\n\r\n');
      if (head < 0) return null;
      const before = soFar.length - chunk.length;
      const established = before <= head + 3 ? 'HTTP/1.1 200 Connection established\r\n\r\n' : '';
      return Buffer.concat([Buffer.from(established), chunk.subarray(Math.max(0, head + 4 - before))]);
    });
    const r = await sb.run({
      argv: py(`
import os, socket, threading
port = int(os.environ["HTTPS_PROXY"].rsplit(":", 1)[1])
def one(n, out):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(b"CONNECT api.example.test:443 HTTP/1.1\\r\\nHost: api.example.test:443\\r\\n\\r\\n")
    head = b""
    while b"\\r\\n\\r\\n" not in head:
        head += s.recv(1)
    payload = bytes([n % 256]) * (2 << 20) if n == 0 else b"x%d" % n
    def send():
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
    w = threading.Thread(target=send)
    w.start()
    back = bytearray()
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        back += b
    w.join()
    out[n] = (head.split(b"\\r\\n")[0].decode(), back == payload, len(back))
    s.close()
out = {}
ts = [threading.Thread(target=one, args=(n, out)) for n in range(20)]
[t.start() for t in ts]
[t.join() for t in ts]
print(sorted(set((v[0], v[1]) for v in out.values())), out[0][2], len(out))
`),
      env: {},
      network: true,
      egress: egress.start,
      // threads count as processes, and each reserves a malloc arena of address space
      limits: limits({ processes: 64, memoryBytes: 8 * 2 ** 30 }),
    });
    expect(r.stderr.toString()).toBe('');
    expect(r.stdout.toString()).toBe("[('HTTP/1.1 200 Connection established', True)] 2097152 20\n");
    const got = egress.received();
    expect(got).toHaveLength(20);
    expect(got.every((g) => g.startsWith('CONNECT api.example.test:443 HTTP/1.1\r\n'))).toBe(true);
  });

  it('the program keeps pid 2, stdin, its exit code and signals; the relay is not its child', async () => {
    const egress = stubEgress(() => null);
    const r = await sb.run({
      argv: py('import os, sys\nprint(os.getpid(), sys.stdin.read())\ntry:\n    os.wait()\nexcept ChildProcessError:\n    print("no children")\nsys.exit(7)'),
      stdin: 'the input',
      env: {},
      network: true,
      egress: egress.start,
      limits: limits(),
    });
    expect(r.stdout.toString()).toBe('2 the input\nno children\n');
    expect(r.exitCode).toBe(7);
    const killed = await sb.run({ argv: ['sh', '-c', 'kill -SEGV $$'], env: {}, network: true, egress: egress.start, limits: limits() });
    expect(killed.signal).toBe('SIGSEGV');
    const timed = await sb.run({ argv: ['sleep', '30'], env: {}, network: true, egress: egress.start, limits: limits({ wallMs: 500 }) });
    expect(timed.outcome).toBe('timed_out');
    expect(egress.closed()).toBe(3); // closed after every run, a timed-out one included
  });

  it('the socket directory is read-only inside and private to the run', async () => {
    const egress = stubEgress(() => null);
    const r = await sb.run({
      argv: ['sh', '-c', 'ls -A /run/egress; touch /run/egress/x 2>&1 | sed "s/.*: //"; ls /tmp /run'],
      env: {},
      network: true,
      egress: egress.start,
      limits: limits(),
    });
    expect(r.stdout.toString()).toBe('proxy.sock\nRead-only file system\n/run:\negress\n\n/tmp:\n');
  });

  it('network: false has no proxy variables, no relay and never starts the egress', async () => {
    const egress = stubEgress(() => null);
    const r = await sb.run({
      argv: py('import os, socket\nprint(sorted(k for k in os.environ if "proxy" in k.lower()), os.path.exists("/run/egress"))\ntry:\n    socket.create_connection(("127.0.0.1", 3128), timeout=2)\nexcept OSError as e:\n    print(type(e).__name__)'),
      env: {},
      network: false,
      egress: egress.start,
      limits: limits(),
    });
    expect(r.stdout.toString()).toBe('[] False\nConnectionRefusedError\n');
    expect(egress.paths).toEqual([]);
  });

  it('network: true without an egress proxy is refused before anything runs', async () => {
    await expect(sb.run({ argv: ['true'], env: {}, network: true, limits: limits() })).rejects.toThrow(SandboxError);
    await expect(sb.run({ argv: ['true'], env: {}, network: true, limits: limits() })).rejects.toThrow(/needs an egress proxy/);
    const failing = async () => {
      throw new Error('address in use');
    };
    await expect(sb.run({ argv: ['true'], env: {}, network: true, egress: failing, limits: limits() })).rejects.toThrow('the egress proxy could not be started: address in use');
  });
});
