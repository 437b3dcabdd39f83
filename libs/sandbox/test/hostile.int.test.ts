import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSandbox } from '../src/index.ts';
import { hostProcesses, limits, loopbackServer, stubEgress } from './helpers.ts';

// Each hostile case from issue 8 with the outcome the sandbox must give it.
const sb = createSandbox({ mode: 'bwrap' });
const py = (code: string) => ['python3', '-c', code];
// `sleep 30.<random digits>`: a duration no other process has, to find stragglers on the host with pgrep
const uniqueSleep = (s: number) => `${s}.${randomBytes(4).readUInt32BE(0)}`;
const hostCanSpawn = () => spawnSync('/usr/bin/true').status === 0;

describe('hostile programs in the bubblewrap sandbox', () => {
  it('fork bomb: stays under the process limit, dies with the sandbox, the host keeps spawning', async () => {
    const marker = `forkbomb-${randomBytes(4).toString('hex')}`;
    let peak = 0;
    let hostOk = true;
    const watch = setInterval(() => {
      peak = Math.max(peak, hostProcesses(marker).length);
      hostOk &&= hostCanSpawn();
    }, 200);
    const bomb = sb.run({
      argv: ['bash', '-c', `: ${marker}; f() { f | f & }; f; sleep 5`],
      env: {},
      network: false,
      limits: limits({ wallMs: 2_500, processes: 24 }),
    });
    // a run beside the bomb still gets its own full process budget
    await new Promise((res) => setTimeout(res, 800));
    const neighbour = await sb.run({
      argv: py('import os\npids = []\nfor _ in range(20):\n    p = os.fork()\n    if p == 0:\n        import time; time.sleep(0.3); os._exit(0)\n    pids.append(p)\nprint(len(pids))'),
      env: {},
      network: false,
      limits: limits({ processes: 24 }),
    });
    expect(neighbour.stdout.toString()).toBe('20\n');
    const r = await bomb;
    clearInterval(watch);
    expect(r.outcome).toBe('timed_out');
    expect(r.reason).toBe('killed after 2.5 s');
    expect(r.stderr.toString()).toMatch(/fork: (retry: )?Resource temporarily unavailable/);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(24 + 2); // the program's 24 plus bwrap's own two
    expect(hostOk).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(hostProcesses(marker)).toEqual([]);
    expect(hostCanSpawn()).toBe(true);
  });

  it('memory bomb: MemoryError at the address-space limit, reported as "memory limit reached"', async () => {
    const r = await sb.run({
      argv: py('x = []\nwhile True: x.append(bytearray(16 << 20))'),
      env: {},
      network: false,
      limits: limits({ memoryBytes: 256 << 20 }),
    });
    expect(r.outcome).toBe('exited');
    expect(r.exitCode).toBe(1);
    expect(r.reason).toBe('memory limit reached');
    expect(r.stderr.toString()).toContain('MemoryError');
  });

  it('busy loop: killed at the CPU limit, long before the wall time', async () => {
    const r = await sb.run({ argv: py('while True: pass'), env: {}, network: false, limits: limits({ cpuSeconds: 1, wallMs: 20_000 }) });
    expect(r.outcome).toBe('killed');
    expect(r.signal).toBe('SIGXCPU');
    expect(r.reason).toBe('CPU limit of 1 s reached');
    expect(r.durationMs).toBeLessThan(5_000);
  });

  it('100 MB of output: cut at the limit, truncated, the program killed', async () => {
    const r = await sb.run({
      argv: py('import sys\nb = b"x" * (1 << 20)\nfor _ in range(100): sys.stdout.buffer.write(b)'),
      env: {},
      network: false,
      limits: limits({ outputBytes: 1 << 20 }),
    });
    expect(r.outcome).toBe('output_limit');
    expect(r.truncated).toBe(true);
    expect(r.reason).toBe('output cut at 1 MiB');
    expect(r.stdout.length).toBe(1 << 20);
    expect(r.signal).toBe('SIGKILL');
  });

  it('100 MB on stderr: cut the same way', async () => {
    const r = await sb.run({
      argv: ['sh', '-c', 'head -c 104857600 /dev/zero >&2'],
      env: {},
      network: false,
      limits: limits({ outputBytes: 64 << 10 }),
    });
    expect(r.outcome).toBe('output_limit');
    expect(r.reason).toBe('output cut at 64 KiB');
    expect(r.stderr.length).toBe(64 << 10);
    expect(r.stdout.length).toBe(0);
  });

  it('/etc/shadow, /root, the repo and .data/ are not there; /proc/1 is the sandbox\'s own', async () => {
    process.env.CSDA_SANDBOX_CANARY = 'canary-proc1-' + randomBytes(4).toString('hex');
    try {
      const r = await sb.run({
        argv: py(`
import os, json
res = {}
for p in ["/etc/shadow", "/etc/passwd", "/root/.bashrc", "${process.cwd()}/package.json", "/work/main/.data", "/proc/1/environ"]:
    try:
        res[p] = open(p, "rb").read().decode("utf8", "replace")
    except OSError as e:
        res[p] = type(e).__name__
res["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
res["pid1"] = open("/proc/1/cmdline", "rb").read().split(b"\\0")[0].decode()
res["root"] = sorted(os.listdir("/"))
print(json.dumps(res))
`),
        env: {},
        network: false,
        limits: limits(),
      });
      expect(r.outcome).toBe('exited');
      const res = JSON.parse(r.stdout.toString());
      expect(res['/etc/shadow']).toBe('FileNotFoundError');
      expect(res['/etc/passwd']).toBe('FileNotFoundError');
      expect(res['/root/.bashrc']).toBe('FileNotFoundError');
      expect(res[`${process.cwd()}/package.json`]).toBe('FileNotFoundError');
      expect(res['/work/main/.data']).toBe('FileNotFoundError');
      // pid 1 is bubblewrap's init of the sandbox's pid namespace: the environment is the sandbox's own
      expect(res.pid1).toMatch(/bwrap$/);
      expect(r.stdout.toString()).not.toContain(process.env.CSDA_SANDBOX_CANARY);
      expect(res.pids.length).toBeLessThanOrEqual(3);
      expect(res.root).toEqual(['bin', 'dev', 'etc', 'lib', 'lib64', 'proc', 'sandbox', 'sbin', 'tmp', 'usr']);
    } finally {
      delete process.env.CSDA_SANDBOX_CANARY;
    }
  });

  it('writing outside the working directory fails (only HOME and the private /tmp are writable)', async () => {
    const r = await sb.run({
      argv: py(`
import json
res = {}
for p in ["/x", "/etc/x", "/usr/x", "/usr/bin/python3", "/bin/x", "/dev/x", "/proc/sys/kernel/hostname", "/sandbox/../x", "/sandbox/ok", "/tmp/ok", "/dev/shm/ok"]:
    try:
        with open(p, "w") as f: f.write("x")
        res[p] = "written"
    except OSError as e:
        res[p] = type(e).__name__
print(json.dumps(res))
`),
      env: {},
      network: false,
      limits: limits(),
    });
    const res = JSON.parse(r.stdout.toString());
    for (const p of ['/x', '/etc/x', '/usr/x', '/usr/bin/python3', '/bin/x', '/dev/x', '/proc/sys/kernel/hostname', '/sandbox/../x']) {
      expect([p, res[p]]).not.toEqual([p, 'written']);
    }
    expect(res['/sandbox/ok']).toBe('written');
    expect(res['/tmp/ok']).toBe('written');
    expect(res['/dev/shm/ok']).toBe('written');
  });

  it('a symlink out of the working directory leads nowhere on the host', async () => {
    const r = await sb.run({
      argv: py(`
import os, json
os.symlink("/etc/shadow", "shadow")
os.symlink("${process.cwd()}/package.json", "repo")
os.symlink("/", "root")
os.symlink("../../../../../../../../etc/hostname", "up")
res = {}
for p in ["shadow", "repo", "up"]:
    try:
        res[p] = open(p).read()
    except OSError as e:
        res[p] = type(e).__name__
res["root"] = sorted(os.listdir("root"))
print(json.dumps(res))
`),
      env: {},
      network: false,
      limits: limits(),
    });
    const res = JSON.parse(r.stdout.toString());
    expect(res.shadow).toBe('FileNotFoundError');
    expect(res.repo).toBe('FileNotFoundError');
    expect(res.up).toBe('FileNotFoundError');
    expect(res.root).toEqual(['bin', 'dev', 'etc', 'lib', 'lib64', 'proc', 'sandbox', 'sbin', 'tmp', 'usr']);
  });

  it('network: false — a socket to the host loopback fails, the server sees nothing', async () => {
    const server = await loopbackServer();
    try {
      const r = await sb.run({
        argv: py(`
import socket
try:
    s = socket.create_connection(("127.0.0.1", ${server.port}), timeout=2)
    print("connected", s.recv(100))
except OSError as e:
    print("refused", type(e).__name__)
`),
        env: {},
        network: false,
        limits: limits(),
      });
      expect(r.stdout.toString()).toMatch(/^refused (ConnectionRefusedError|OSError|TimeoutError)/);
      expect(server.connections()).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('network: true — still its own network namespace: no route out, the host loopback unreachable, no DNS', async () => {
    const server = await loopbackServer();
    const egress = stubEgress(() => null);
    try {
      const r = await sb.run({
        argv: py(`
import json, socket
res = {}
try:
    s = socket.create_connection(("127.0.0.1", ${server.port}), timeout=2)
    res["direct"] = "connected " + s.recv(100).decode()
except OSError as e:
    res["direct"] = type(e).__name__
try:
    socket.getaddrinfo("tools.example.test", 443)
    res["dns"] = "resolved"
except OSError as e:
    res["dns"] = type(e).__name__
res["interfaces"] = sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:])
res["routes"] = open("/proc/net/route").readlines()[1:] + open("/proc/net/ipv6_route").readlines()
print(json.dumps(res))
`),
        env: {},
        network: true,
        egress: egress.start,
        limits: limits(),
      });
      const res = JSON.parse(r.stdout.toString()) as Record<string, unknown>;
      expect(res.direct).toBe('ConnectionRefusedError');
      expect(res.dns).toBe('gaierror');
      expect(res.interfaces).toEqual(['lo']);
      // every route is lo's (IPv6 lists lo's own and a reject default); the host's eth0 routes are not there
      expect(new Set((res.routes as string[]).map((line) => line.trim().split(/\s+/).pop()))).toEqual(new Set(['lo']));
      expect(server.connections()).toBe(0);
      expect(egress.received()).toEqual([]); // a direct connection never reaches the proxy either
    } finally {
      await server.close();
    }
  });

  it("the runner's own environment is not visible anywhere inside", async () => {
    const canary = 'canary-env-' + randomBytes(6).toString('hex');
    process.env.DATABASE_URL_CANARY = canary;
    try {
      const r = await sb.run({
        argv: ['sh', '-c', 'env; cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n"; cat /proc/self/../1/environ 2>/dev/null'],
        env: {},
        network: false,
        limits: limits(),
      });
      expect(r.outcome).toBe('exited');
      expect(r.stdout.toString()).toContain('HOME=/sandbox');
      expect(r.stdout.toString()).not.toContain(canary);
      expect(r.stdout.toString()).not.toContain('DATABASE_URL_CANARY');
    } finally {
      delete process.env.DATABASE_URL_CANARY;
    }
  });

  it('killing the parent, pid 1 or every process it can see reaches neither the runner nor another sandbox', async () => {
    const other = sb.run({ argv: ['sh', '-c', 'sleep 1.5; echo survived'], env: {}, network: false, limits: limits() });
    await new Promise((r) => setTimeout(r, 300));
    const r = await sb.run({
      argv: ['sh', '-c', 'kill -9 $PPID; kill -9 1; kill -9 -1; pkill -9 -f node; pkill -9 -f vitest; echo still here'],
      env: {},
      network: false,
      limits: limits(),
    });
    // `kill -9 -1` took out the shell itself at the latest: nothing outside its pid namespace was touched
    expect(['exited', 'killed']).toContain(r.outcome);
    expect((await other).stdout.toString()).toBe('survived\n');
    expect(process.ppid).toBeGreaterThan(0);
    expect(hostCanSpawn()).toBe(true);
  });

  it('a process that outlives its parent (backgrounded, setsid, double fork) is killed with the sandbox', async () => {
    const marker = uniqueSleep(60);
    const r = await sb.run({
      argv: py(`
import os, subprocess
subprocess.Popen(["sleep", "${marker}"], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/usr/bin/sleep", ["sleep", "${marker}"])
    os._exit(0)
import time; time.sleep(0.3)
alive = 0
for p in os.listdir("/proc"):
    try:
        alive += p.isdigit() and open(f"/proc/{p}/cmdline").read() == "sleep\\x00${marker}\\x00"
    except OSError:
        pass
print("parent done, orphans:", alive)
`),
      env: {},
      network: false,
      limits: limits(),
    });
    expect(r.outcome).toBe('exited');
    expect(r.stdout.toString()).toBe('parent done, orphans: 2\n');
    expect(r.durationMs).toBeLessThan(5_000);
    await new Promise((res) => setTimeout(res, 200));
    expect(hostProcesses(marker)).toEqual([]);
  });

  it('cancellation through an AbortSignal kills the run', async () => {
    const marker = uniqueSleep(30);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const r = await sb.run({ argv: ['sleep', marker], env: {}, network: false, limits: limits(), signal: ac.signal });
    expect(r.outcome).toBe('cancelled');
    expect(r.reason).toBe('cancelled');
    expect(r.durationMs).toBeLessThan(3_000);
    expect(hostProcesses(marker)).toEqual([]);
    const pre = new AbortController();
    pre.abort();
    expect((await sb.run({ argv: ['true'], env: {}, network: false, limits: limits(), signal: pre.signal })).outcome).toBe('cancelled');
  });

  it('wall timeout: killed after the wall time, with the group', async () => {
    const marker = uniqueSleep(30);
    const r = await sb.run({ argv: ['sh', '-c', `sleep ${marker} & sleep ${marker}; :`], env: {}, network: false, limits: limits({ wallMs: 700 }) });
    expect(r.outcome).toBe('timed_out');
    expect(r.reason).toBe('killed after 0.7 s');
    expect(r.durationMs).toBeGreaterThanOrEqual(690);
    expect(r.durationMs).toBeLessThan(3_000);
    await new Promise((res) => setTimeout(res, 200));
    expect(hostProcesses(marker)).toEqual([]);
  });

  it('file size and open file limits hold', async () => {
    const big = await sb.run({ argv: ['sh', '-c', 'head -c 3000000 /dev/zero > big'], env: {}, network: false, limits: limits({ fileSizeBytes: 1 << 20 }) });
    expect(big.outcome).toBe('killed');
    expect(big.reason).toBe('file size limit of 1 MiB reached');
    const files = await sb.run({
      argv: py('fs = []\ntry:\n    while True: fs.append(open("/dev/null"))\nexcept OSError as e: print(len(fs), type(e).__name__)'),
      env: {},
      network: false,
      limits: limits({ openFiles: 32 }),
    });
    expect(files.stdout.toString()).toMatch(/^2\d OSError\n$/);
  });

  it('seccomp: ptrace, keyctl, bpf, io_uring, mount, unshare and process_vm_readv fail with EPERM; ordinary calls work', async () => {
    const r = await sb.run({
      argv: py(`
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
res = {}
for name, nr, args in [("ptrace", 101, (0, 0, 0, 0)), ("keyctl", 250, (0, 0, 0, 0)), ("bpf", 321, (0, 0, 0, 0)),
                       ("io_uring_setup", 425, (1, 0, 0, 0)), ("mount", 165, (0, 0, 0, 0)), ("unshare", 272, (0x10000000, 0, 0, 0)),
                       ("process_vm_readv", 310, (1, 0, 0, 0)), ("getpid", 39, (0, 0, 0, 0))]:
    rc = libc.syscall(nr, *args)
    res[name] = rc if rc >= 0 else os.strerror(ctypes.get_errno())
print(json.dumps(res))
`),
      env: {},
      network: false,
      limits: limits(),
    });
    const res = JSON.parse(r.stdout.toString());
    for (const name of ['ptrace', 'keyctl', 'bpf', 'io_uring_setup', 'mount', 'unshare', 'process_vm_readv']) {
      expect([name, res[name]]).toEqual([name, 'Operation not permitted']);
    }
    expect(res.getpid).toBe(2);
  });
});
