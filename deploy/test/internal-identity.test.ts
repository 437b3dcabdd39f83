// deploy/scripts/internal-identity.ts: the Secret it prints, and the three
// rotation steps (stage, promote, prune) that never leave a token unverifiable.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ISSUERS, keyIdOf, parsePrivateKey, parseVerifyKeys } from '@csda/auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from './render.ts';

const run = promisify(execFile);
const script = join(repoRoot, 'deploy/scripts/internal-identity.ts');

interface Secret {
  metadata: { name: string };
  data: Record<string, string>;
}

const decode = (s: Secret) => Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));

describe('internal-identity Secret generator', () => {
  let dir: string;
  const generate = async (...args: string[]) => JSON.parse((await run(process.execPath, [script, ...args])).stdout) as Secret;
  const save = async (secret: Secret) => {
    const file = join(dir, `secret-${Date.now()}-${Math.random()}.json`);
    await writeFile(file, JSON.stringify(secret));
    return file;
  };
  const kidsOf = (data: Record<string, string>, issuer: string) => parseVerifyKeys(data['verify-keys']!).filter((k) => k.issuer === issuer).map((k) => k.kid);
  const signingKid = (data: Record<string, string>, key: string) => keyIdOf(parsePrivateKey(data[key]!));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'csda-identity-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('prints one signing key per signer and the verify keys of exactly those keys', async () => {
    const secret = await generate('--name', 'csda-internal-identity');
    expect(secret.metadata.name).toBe('csda-internal-identity');
    const data = decode(secret);
    expect(Object.keys(data).sort()).toEqual([...ISSUERS.map((i) => `signing-key-${i}`), 'verify-keys'].sort());
    for (const issuer of ISSUERS) expect(kidsOf(data, issuer)).toEqual([signingKid(data, `signing-key-${issuer}`)]);
  });

  it('rotates in three steps: stage (both verify), promote (new signs), prune (old gone)', async () => {
    const start = decode(await generate());
    const oldKid = signingKid(start, 'signing-key-gateway');
    const staged = decode(await generate('--from', await save({ metadata: { name: 'x' }, data: encode(start) }), '--stage', 'gateway'));
    expect(signingKid(staged, 'signing-key-gateway')).toBe(oldKid);
    const newKid = signingKid(staged, 'signing-key-gateway-next');
    expect(kidsOf(staged, 'gateway').sort()).toEqual([oldKid, newKid].sort());
    const promoted = decode(await generate('--from', await save({ metadata: { name: 'x' }, data: encode(staged) }), '--promote', 'gateway'));
    expect(signingKid(promoted, 'signing-key-gateway')).toBe(newKid);
    expect(promoted['signing-key-gateway-next']).toBeUndefined();
    expect(kidsOf(promoted, 'gateway').sort()).toEqual([oldKid, newKid].sort());
    const pruned = decode(await generate('--from', await save({ metadata: { name: 'x' }, data: encode(promoted) }), '--prune'));
    expect(kidsOf(pruned, 'gateway')).toEqual([newKid]);
    expect(kidsOf(pruned, 'scheduler')).toEqual(kidsOf(start, 'scheduler'));
  });

  it('refuses to promote what was never staged, and unknown signers', async () => {
    const file = await save(await generate());
    await expect(run(process.execPath, [script, '--from', file, '--promote', 'gateway'])).rejects.toMatchObject({ code: 64, stderr: expect.stringContaining('run --stage gateway first') });
    await expect(run(process.execPath, [script, '--from', file, '--stage', 'vault'])).rejects.toMatchObject({ code: 64 });
  });
});

function encode(data: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]));
}
