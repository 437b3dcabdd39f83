// `buf breaking` (rules: FILE, proto/buf.yaml) in the tests. There is no release
// tag, so the state other code relies on is what is on `main`:
//  - on any branch but main: the working tree against main's tip — the whole
//    change the branch would bring, committed or not;
//  - on main (where CI runs and commits land directly): against main's tip
//    (uncommitted edits) and against the parent of the last commit that
//    touched proto/ — so a committed break fails while it is the newest
//    contract change, which is when CI first sees it.
// Needs the git history: a missing `main` branch or a clone too shallow to
// hold the parent commit is a test failure naming the fix, never a skip.
// An intentional break needs a new package version (csda.<x>.v2), not an edit.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');
const protoDir = join(root, 'proto');
const buf = join(root, 'node_modules/.bin/buf');

const git = async (...args: string[]) => (await run('git', ['-C', root, ...args])).stdout.trim();
const gitOk = (...args: string[]) => git(...args).then(() => true, () => false);

/** The inputs to check the working tree against, each with what it stands for. */
async function baselines(): Promise<{ against: string; what: string }[]> {
  if (!(await gitOk('rev-parse', '--verify', '--quiet', 'refs/heads/main'))) {
    throw new Error('buf breaking needs a local branch "main" to compare proto/ against: run `git fetch origin main:main` (CI must clone main)');
  }
  const atMain = { against: `${root}/.git#branch=main,subdir=proto`, what: 'main' };
  if ((await git('rev-parse', '--abbrev-ref', 'HEAD')) !== 'main') return [atMain];
  const last = await git('log', '-1', '--format=%H', '--', 'proto');
  if (!last) throw new Error('no commit on main touches proto/: nothing to compare against');
  if (!(await gitOk('rev-parse', '--verify', '--quiet', `${last}^{commit}`)) || !(await gitOk('cat-file', '-e', `${last}^`))) {
    if (await git('rev-parse', '--is-shallow-repository').then((s) => s === 'true')) {
      throw new Error(`the clone is too shallow to hold the parent of ${last.slice(0, 12)} (last commit touching proto/): run \`git fetch --unshallow\``);
    }
    return [atMain]; // the commit that created proto/ has no parent: only uncommitted edits can break it
  }
  const parent = await git('rev-parse', `${last}^`);
  if (!(await gitOk('cat-file', '-e', `${parent}:proto/buf.yaml`))) return [atMain]; // proto/ appeared in `last`
  return [atMain, { against: `${root}/.git#ref=${parent},subdir=proto`, what: `${parent.slice(0, 12)}, the state before ${last.slice(0, 12)}` }];
}

const breaking = (cwd: string, against: string) => run(buf, ['breaking', '--against', against], { cwd });

describe('proto contract compatibility', () => {
  const temp: string[] = [];
  afterAll(async () => {
    await Promise.all(temp.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('has no breaking change against main (buf breaking)', async () => {
    for (const { against, what } of await baselines()) {
      const result = await breaking(protoDir, against).then(
        ({ stdout, stderr }) => stdout + stderr,
        (err: { stdout?: string; stderr?: string }) => `FAILED against ${what}:\n${err.stdout ?? ''}${err.stderr ?? ''}`,
      );
      expect(result, `buf breaking against ${what}`).toBe('');
    }
  });

  it('reports a removed field (the check can fail)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'csda-proto-breaking-'));
    temp.push(dir);
    await cp(protoDir, dir, { recursive: true });
    const file = join(dir, 'csda/vault/v1/vault.proto');
    const source = await readFile(file, 'utf8');
    const edited = source.replace(/^\s*int32 interval_days = 2;\n/m, '');
    expect(edited).not.toBe(source);
    await writeFile(file, edited);
    await expect(breaking(dir, protoDir)).rejects.toMatchObject({ stdout: expect.stringContaining('interval_days') });
  });
});
