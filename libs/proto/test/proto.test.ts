import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');
const protoDir = join(root, 'proto');
const buf = join(root, 'node_modules/.bin/buf');

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

describe('proto module', () => {
  const temp: string[] = [];
  afterAll(async () => {
    await Promise.all(temp.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('passes buf lint', async () => {
    const { stdout, stderr } = await run(buf, ['lint'], { cwd: protoDir });
    expect(stdout + stderr).toBe('');
  });

  it('fails buf lint on a contract that breaks the rules (the check can fail)', async () => {
    const { mkdir, writeFile, cp } = await import('node:fs/promises');
    const dir = await mkdtemp(join(tmpdir(), 'csda-proto-bad-'));
    temp.push(dir);
    await cp(protoDir, dir, { recursive: true });
    await mkdir(join(dir, 'csda/bad/v1'), { recursive: true });
    await writeFile(join(dir, 'csda/bad/v1/bad.proto'), 'syntax = "proto3";\npackage csda.bad.v1;\nmessage lower_case { string Field = 1; }\n');
    await expect(run(buf, ['lint'], { cwd: dir })).rejects.toMatchObject({ stdout: expect.stringContaining('lower_case') });
  });

  it('has generated code in libs/proto/src/gen that matches the protos', async () => {
    const out = await mkdtemp(join(tmpdir(), 'csda-proto-gen-'));
    temp.push(out);
    const template = JSON.stringify({
      version: 'v2',
      plugins: [{ local: join(root, 'node_modules/.bin/protoc-gen-es'), out, opt: ['target=js+dts', 'import_extension=js'] }],
    });
    await run(buf, ['generate', '--template', template], { cwd: protoDir, env: { ...process.env, PATH: `${join(root, 'node_modules/.bin')}:${process.env.PATH}` } });
    const committed = join(root, 'libs/proto/src/gen');
    const files = await listFiles(out);
    expect(files).toEqual(await listFiles(committed));
    for (const file of files) {
      expect(await readFile(join(committed, file), 'utf8'), `${file} is stale: run npm run proto:generate`).toBe(await readFile(join(out, file), 'utf8'));
    }
  });
});
