import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { createSandbox, detectSandbox, expandArgv, HOST_UID_BASE, SandboxError } from '../src/index.ts';
import { limits } from './helpers.ts';

const sb = createSandbox({ mode: 'bwrap' });
const py = (code: string) => ['python3', '-c', code];

describe('bubblewrap sandbox', () => {
  it('is available on this machine', async () => {
    expect(await detectSandbox()).toEqual({ available: true });
  });

  it('runs python3 with stdin in and stdout/stderr out, as uid 65534 in an empty tmpfs HOME', async () => {
    const r = await sb.run({
      argv: py('import sys, json, os; d = json.load(sys.stdin); print(json.dumps({"sum": d["a"] + d["b"], "uid": os.getuid(), "cwd": os.getcwd(), "files": os.listdir(".")})); print("warn", file=sys.stderr); sys.exit(3)'),
      stdin: JSON.stringify({ a: 2, b: 40 }),
      env: {},
      network: false,
      limits: limits(),
    });
    expect(r.outcome).toBe('exited');
    expect(r.exitCode).toBe(3);
    expect(r.reason).toBe('exited with code 3');
    expect(JSON.parse(r.stdout.toString())).toEqual({ sum: 42, uid: 65534, cwd: '/sandbox', files: [] });
    expect(r.stderr.toString()).toBe('warn\n');
    expect(r.truncated).toBe(false);
  });

  it('gives the program exactly req.env plus PATH, HOME and LANG (and bubblewrap\'s PWD)', async () => {
    const r = await sb.run({
      argv: py('import os, json; print(json.dumps(dict(os.environ)))'),
      env: { API_TOKEN: 'granted-value', PATH: '/evil', HOME: '/root' },
      network: false,
      limits: limits(),
    });
    expect(JSON.parse(r.stdout.toString())).toEqual({
      API_TOKEN: 'granted-value',
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: '/sandbox',
      LANG: 'C.UTF-8',
      PWD: '/sandbox',
    });
  });

  it('closes stdin when none is given', async () => {
    const r = await sb.run({ argv: py('import sys; print(repr(sys.stdin.read()))'), env: {}, network: false, limits: limits() });
    expect(r.stdout.toString()).toBe("''\n");
  });

  it('delivers a large stdin whole, and copes with a program that never reads it', async () => {
    const input = Buffer.alloc(5 << 20, 'a');
    const read = await sb.run({ argv: py('import sys; print(len(sys.stdin.buffer.read()))'), stdin: input, env: {}, network: false, limits: limits() });
    expect(read.stdout.toString()).toBe(`${5 << 20}\n`);
    const ignore = await sb.run({ argv: ['true'], stdin: input, env: {}, network: false, limits: limits() });
    expect(ignore.outcome).toBe('exited');
    expect(ignore.exitCode).toBe(0);
  });

  it('runs 60 sandboxes at once without a failure and prints the throughput', async () => {
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => sb.run({ argv: py(`print(${i})`), env: {}, network: false, limits: limits() })),
    );
    const perSecond = Math.round(60 / ((performance.now() - t0) / 1000));
    process.stdout.write(`60 sandboxed python3 runs, all started at once: ${perSecond}/s\n`);
    expect(results.map((r) => r.stdout.toString())).toEqual(Array.from({ length: 60 }, (_, i) => `${i}\n`));
    expect(results.every((r) => r.outcome === 'exited' && r.exitCode === 0)).toBe(true);
  });

  it('gives each run a fresh working directory and /tmp', async () => {
    const write = await sb.run({ argv: ['sh', '-c', 'echo x > left-behind && echo y > /tmp/left-behind && ls'], env: {}, network: false, limits: limits() });
    expect(write.stdout.toString()).toBe('left-behind\n');
    const read = await sb.run({ argv: ['sh', '-c', 'ls -A . /tmp'], env: {}, network: false, limits: limits() });
    expect(read.stdout.toString()).toBe('.:\n\n/tmp:\n');
  });

  it('refuses bad requests before starting anything', async () => {
    const run = (over: object) => sb.run({ argv: ['true'], env: {}, network: false, limits: limits(), ...over });
    await expect(run({ argv: ['./evil'] })).rejects.toThrow(SandboxError);
    await expect(run({ argv: ['/etc/passwd'] })).rejects.toThrow(/outside/);
    await expect(run({ argv: [] })).rejects.toThrow(/no program/);
    await expect(run({ env: { 'BAD=NAME': 'x' } })).rejects.toThrow(/not allowed/);
    await expect(run({ limits: limits({ wallMs: 0 }) })).rejects.toThrow(/wallMs/);
    await expect(run({ argv: ['echo', 'a\0b'] })).rejects.toThrow(/NUL/);
  });

  it('passes shell metacharacters in every parameter to the program as one literal argument each', async () => {
    const values = {
      a: '; rm -rf /',
      b: '$(id)',
      c: '`id`',
      d: 'line1\nline2',
      e: '--output=/etc/x',
      f: "' \" \\ | & > < * ? ~ $HOME",
      g: '-c',
    };
    const argv = expandArgv(
      ['python3', '-c', 'import sys, json; print(json.dumps(sys.argv[1:]))', '{{a}}', '{{b}}', '{{c}}', '{{d}}', '{{e}}', '{{f}}', '{{g}}', '--name={{a}}{{b}}'],
      values,
    );
    const r = await sb.run({ argv, env: {}, network: false, limits: limits() });
    expect(r.outcome).toBe('exited');
    expect(JSON.parse(r.stdout.toString())).toEqual([...Object.values(values), '--name=; rm -rf /$(id)']);
    // the same through a program that would act on the text: nothing ran, nothing was written
    const echo = await sb.run({ argv: expandArgv(['printf', '%s|', '{{a}}', '{{b}}', '{{c}}', '{{e}}'], values), env: {}, network: false, limits: limits() });
    expect(echo.stdout.toString()).toBe('; rm -rf /|$(id)|`id`|--output=/etc/x|');
  });

  it('reports a program that exits 127 (a command env cannot find inside the sandbox)', async () => {
    const r = await sb.run({ argv: ['/usr/bin/env', '/nonexistent'], env: {}, network: false, limits: limits() });
    expect(r.outcome).toBe('exited');
    expect(r.exitCode).toBe(127);
  });
});

describe('sandbox mode none (development only)', () => {
  const none = createSandbox({ mode: 'none' });

  it('runs with a clean environment, a temporary cwd and the same limits, but no isolation', async () => {
    process.env.CSDA_SANDBOX_CANARY_NONE = 'canary-none-1';
    try {
      const r = await none.run({
        argv: py('import os, json; print(json.dumps({"env": dict(os.environ), "cwd": os.getcwd(), "uid": os.getuid(), "hostPids": len([p for p in os.listdir("/proc") if p.isdigit()]) > 5}))'),
        env: { X: '1' },
        network: false,
        limits: limits(),
      });
      const out = JSON.parse(r.stdout.toString());
      expect(Object.keys(out.env).sort()).toEqual(['HOME', 'LANG', 'PATH', 'X']);
      expect(out.env.HOME).toBe(out.cwd);
      expect(out.cwd).toMatch(/csda-sandbox-/);
      if (process.getuid?.() === 0) expect(out.uid).toBeGreaterThanOrEqual(HOST_UID_BASE);
      expect(JSON.stringify(out)).not.toContain('canary-none-1');
      expect(out.hostPids).toBe(true); // the documented difference: the host's processes are visible
    } finally {
      delete process.env.CSDA_SANDBOX_CANARY_NONE;
    }
  });

  it('still applies the CPU limit and the wall timer', async () => {
    const cpu = await none.run({ argv: py('while True: pass'), env: {}, network: false, limits: limits({ cpuSeconds: 1 }) });
    expect(cpu.outcome).toBe('killed');
    expect(cpu.reason).toBe('CPU limit of 1 s reached');
    const wall = await none.run({ argv: ['sleep', '30'], env: {}, network: false, limits: limits({ wallMs: 300 }) });
    expect(wall.outcome).toBe('timed_out');
    expect(wall.reason).toBe('killed after 0.3 s');
  });
});
