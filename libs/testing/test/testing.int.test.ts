import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, query } from '../src/database.ts';
import { claimPort, FREE_PORT_RANGE, freePort, isListening } from '../src/ports.ts';
import { repoRoot, runNode } from '../src/run-node.ts';

const PORTS = `import { freePort } from './libs/testing/src/ports.ts';`;

describe('test harness', () => {
  it('creates an isolated database with pgvector and drops it', async () => {
    const db = await createTestDatabase('harness');
    expect(db.name).toMatch(/^csda_t_harness_[0-9a-f]{8}$/);
    expect(await query(db.url, `select extname from pg_extension where extname = 'vector'`)).toHaveLength(1);
    await db.drop();
    await expect(query(db.url, 'select 1')).rejects.toThrow(/does not exist/);
  });

  it('finds free ports that nothing listens on, below the kernel ephemeral range', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThanOrEqual(FREE_PORT_RANGE.lowest);
    expect(port).toBeLessThanOrEqual(FREE_PORT_RANGE.highest);
    expect(FREE_PORT_RANGE.highest).toBeLessThan(32_768);
    expect(await isListening(port)).toBe(false);
  });

  it('never gives two live processes the same port, and a process exit releases its ports', async () => {
    const mine = new Set<number>();
    for (let i = 0; i < 300; i++) mine.add(await freePort());
    expect(mine.size).toBe(300);
    const child = await runNode(['--input-type=module', '-e', `${PORTS} const p = []; for (let i = 0; i < 300; i++) p.push(await freePort()); console.log(JSON.stringify(p));`], {});
    expect(child.code, child.stderr).toBe(0);
    const theirs = JSON.parse(child.stdout) as number[];
    expect(new Set(theirs).size).toBe(300);
    expect(theirs.filter((p) => mine.has(p))).toEqual([]);
    // Its claims went with it: this process can claim every one of them now.
    expect(theirs.filter((p) => !claimPort(p))).toEqual([]);
    for (const p of mine) expect(claimPort(p)).toBe(false); // already this process's: not handed out twice
  });

  it('takes over the claim of a process that died without releasing it', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', `${PORTS} console.log(await freePort()); process.stdin.resume();`], { cwd: repoRoot, stdio: 'pipe' });
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    const port = Number(line.toString().trim());
    expect(claimPort(port)).toBe(false); // held by a live process
    const exited = once(child, 'exit');
    child.kill('SIGKILL'); // no exit handler runs: the claim file stays behind
    await exited;
    expect(claimPort(port)).toBe(true);
  });
});
