import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { waitFor } from '@csda/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { buildStack } from './config.ts';
import { runningStack, shortCommand, takenPorts, tryBind, writePidFile, removePidFile } from './preflight.ts';
import { liveChildren, mapLimit, probe, spawnNode, stopAll } from './processes.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'csda-stack-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function script(name: string, code: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, code);
  return file;
}

/** Exited (or a zombie waiting for init to reap it), polled for up to 2 s. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 20; i++) {
    try {
      if (fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z')) return true;
      process.kill(pid, 0);
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const quiet = { onStdout: () => {}, onStderr: () => {}, cwd: tmp, env: { PATH: process.env.PATH ?? '' } };

describe('mapLimit', () => {
  it('keeps order and never runs more than the limit at once', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([30, 10, 20, 5, 1], 2, async (ms) => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, ms));
      running--;
      return ms * 2;
    });
    expect(out).toEqual([60, 20, 40, 10, 2]);
    expect(peak).toBe(2);
  });
});

describe('spawnNode / stopAll', () => {
  it('collects output lines and the exit code', async () => {
    const lines: string[] = [];
    const ch = spawnNode({ ...quiet, name: 'x', args: [script('out.js', 'console.log("a\\nb"); console.error("c"); process.exit(3)')], onStdout: (l) => lines.push(l) });
    const info = await ch.done;
    expect(info).toEqual({ code: 3, signal: null });
    expect(lines).toEqual(['a', 'b']);
    expect([...ch.tail.lines].sort()).toEqual(['a', 'b', 'c']);
  });

  it('SIGTERMs the group, then SIGKILLs what ignores it, grandchildren included', async () => {
    const stubborn = script('stubborn.js', `
      const { spawn } = require('node:child_process');
      process.on('SIGTERM', () => console.log('ignored'));
      const g = spawn(process.execPath, ['-e', 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      console.log('grandchild ' + g.pid);
      setInterval(() => {}, 1000);`);
    const polite = script('polite.js', 'process.on("SIGTERM", () => process.exit(0)); setInterval(() => {}, 1000); console.log("up")');
    const lines: string[] = [];
    const a = spawnNode({ ...quiet, name: 'stubborn', args: [stubborn], onStdout: (l) => lines.push(l) });
    const b = spawnNode({ ...quiet, name: 'polite', args: [polite], onStdout: (l) => lines.push(`polite ${l}`) });
    // Both must have their SIGTERM handlers installed (they print once they have); a loaded machine takes a while.
    await waitFor(() => lines.some((l) => l.startsWith('grandchild')) && lines.includes('polite up'), { timeoutMs: 20_000, what: 'both children up' });
    const grandchild = Number(lines.find((l) => l.startsWith('grandchild'))?.split(' ')[1]);
    expect(grandchild).toBeGreaterThan(0);
    const stragglers: string[] = [];
    const t0 = Date.now();
    await stopAll(500, (ch) => stragglers.push(ch.name));
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(stragglers).toEqual(['stubborn']);
    expect(a.exit?.signal).toBe('SIGKILL');
    expect(b.exit).toEqual({ code: 0, signal: null });
    expect(liveChildren()).toEqual([]);
    expect(await gone(grandchild)).toBe(true);
  });
});

describe('probe', () => {
  it('reports a closed port', async () => {
    const srv = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r));
    expect(await probe(`http://127.0.0.1:${port}/readyz`)).toBe('not listening');
  });
});

describe('preflight', () => {
  it('finds a taken port and names its variable and owner', async () => {
    const srv = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    const port = (srv.address() as net.AddressInfo).port;
    try {
      expect(await tryBind('127.0.0.1', port)).toBe('EADDRINUSE');
      const uses = buildStack({ GATEWAY_PORT: String(port) }, '/a').services.flatMap((s) => s.ports);
      const taken = (await takenPorts('127.0.0.1', uses)).filter((t) => t.use.port === port);
      expect(taken).toHaveLength(1);
      expect(taken[0]?.use.variable).toBe('GATEWAY_PORT');
      if (process.platform === 'linux') expect(taken[0]?.owner).toContain(`pid ${process.pid} `);
    } finally {
      await new Promise((r) => srv.close(r));
    }
    expect(await tryBind('127.0.0.1', port)).toBeNull();
  });

  it('treats a pid file as live only for a running stack', () => {
    const file = path.join(tmp, 'data', 'stack.pid');
    expect(runningStack(file)).toBeNull(); // no file
    writePidFile(file);
    expect(runningStack(file)).toBeNull(); // ourselves
    fs.writeFileSync(file, '999999999\n');
    expect(runningStack(file)).toBeNull(); // dead pid
    fs.writeFileSync(file, `${process.ppid}\n`);
    expect(runningStack(file)).toBeNull(); // alive, but not a stack
    removePidFile(file); // not ours: left alone
    expect(fs.existsSync(file)).toBe(true);
  });

  it('shortens command lines', () => {
    expect(shortCommand('/x/node_modules/node/bin/node /work/main/apps/vault/src/main.ts serve')).toBe('node …/apps/vault/src/main.ts serve');
    expect(shortCommand('a'.repeat(200), 10)).toBe('aaaaaaaaa…');
  });
});
