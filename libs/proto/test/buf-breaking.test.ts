// `buf breaking` (rules: FILE, proto/buf.yaml) in the tests, against a recorded
// baseline: proto/breaking-baseline.binpb, the buf image of the contract as it
// last landed (`npm run proto:baseline` records the current one). A committed
// file, not git history, so the check is the same on any clone, shallow or not.
// Compatible additions need no new baseline (though recording one protects
// them too); a break fails until it is made a new package (csda.<x>.v2) or the
// baseline is deliberately re-recorded in a reviewed commit.
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');
const protoDir = join(root, 'proto');
const baseline = join(protoDir, 'breaking-baseline.binpb');
const buf = join(root, 'node_modules/.bin/buf');

const breaking = (cwd: string, against: string) => run(buf, ['breaking', '--against', against], { cwd });

describe('proto contract compatibility', () => {
  const temp: string[] = [];
  afterAll(async () => {
    await Promise.all(temp.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('has no breaking change against the recorded baseline (buf breaking)', async () => {
    const result = await breaking(protoDir, baseline).then(
      ({ stdout, stderr }) => stdout + stderr,
      (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`,
    );
    expect(result).toBe('');
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
    await expect(breaking(dir, baseline)).rejects.toMatchObject({ stdout: expect.stringContaining('interval_days') });
  });
});
