import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openTmpDir } from './tmp-dir.ts';

let base: string | undefined;
afterEach(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

describe('temporary directory', () => {
  it('removes the directories of processes that are gone, keeps live ones and other files, and makes its own', async () => {
    base = await mkdtemp(join(tmpdir(), 'csda-tmp-test-'));
    const dead = spawnSync(process.execPath, ['-e', 'process.pid'], { stdio: 'ignore' }).pid!; // exited already
    await mkdir(join(base, `csda-ingest-${dead}`));
    await writeFile(join(base, `csda-ingest-${dead}`, 'left-behind.pdf'), 'x');
    await mkdir(join(base, `csda-ingest-${process.ppid}`));
    await writeFile(join(base, 'unrelated'), 'y');
    const own = await openTmpDir(base);
    expect((await readdir(base)).sort()).toEqual([`csda-ingest-${process.pid}`, `csda-ingest-${process.ppid}`, 'unrelated'].sort());
    expect(own.path).toBe(join(base, `csda-ingest-${process.pid}`));
    await own.remove();
    expect(await readdir(base)).not.toContain(`csda-ingest-${process.pid}`);
  });
});
