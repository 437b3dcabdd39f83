import { execFile } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { generateInternalKeyPair, loadDevPrivateKey, parsePrivateKey, parsePublicKey, readOrCreateDevFile } from './keys.ts';

const run = promisify(execFile);
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'csda-auth-keys-'));
  dirs.push(dir);
  return join(dir, 'dev-keys');
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

const spki = (key: KeyObject): string => key.export({ type: 'spki', format: 'der' }).toString('base64');
const pemBody = (pem: string): string => pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');

describe('key parsing', () => {
  it('accepts Ed25519 keys as PEM and as base64 DER', () => {
    const { privateKeyPem, publicKeyPem } = generateInternalKeyPair();
    const priv = parsePrivateKey(privateKeyPem);
    const pub = parsePublicKey(publicKeyPem);
    expect(priv.asymmetricKeyType).toBe('ed25519');
    expect(priv.type).toBe('private');
    expect(pub.type).toBe('public');
    expect(spki(parsePublicKey(pemBody(publicKeyPem)))).toBe(spki(pub));
    expect(parsePrivateKey(`  ${pemBody(privateKeyPem)}\n`).equals(priv)).toBe(true);
  });

  it('refuses other key types without printing key material', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    const x = generateKeyPairSync('x25519', { publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    for (const pair of [rsa, ec, x]) {
      for (const [parse, text] of [[parsePrivateKey, pair.privateKey], [parsePrivateKey, pemBody(pair.privateKey)], [parsePublicKey, pair.publicKey], [parsePublicKey, pemBody(pair.publicKey)]] as const) {
        const err = (() => { try { parse(text); return undefined; } catch (e) { return e as Error; } })();
        expect(err?.message).toMatch(/must be an Ed25519 key \(got (rsa|ec|x25519)\)/);
        expect(err?.message).not.toContain(pemBody(text).slice(0, 16));
      }
    }
  });

  it('refuses junk and a private key given as the verify key, naming only the variable', () => {
    const { privateKeyPem } = generateInternalKeyPair();
    expect(() => parsePublicKey(privateKeyPem)).toThrow('INTERNAL_VERIFY_KEYS holds a private key');
    expect(() => parsePublicKey(pemBody(privateKeyPem))).toThrow(/^INTERNAL_VERIFY_KEYS is not an SPKI public key/);
    expect(() => parsePrivateKey('hunter2-not-a-key!')).toThrow(/^INTERNAL_SIGNING_KEY is not a PKCS#8 private key \(expected PEM or base64 DER\)$/);
    expect(() => parsePrivateKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----')).toThrow(/^INTERNAL_SIGNING_KEY is not/);
  });
});

describe('loadDevPrivateKey', () => {
  it('creates one key per issuer once (0700 dir, 0600 files) and reuses it', async () => {
    const dir = await tempDir();
    const first = await loadDevPrivateKey(dir, 'gateway');
    const again = await loadDevPrivateKey(dir, 'gateway');
    const scheduler = await loadDevPrivateKey(dir, 'scheduler');
    expect(again.equals(first)).toBe(true);
    expect(scheduler.equals(first)).toBe(false);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'internal-gateway.key'))).mode & 0o777).toBe(0o600);
    expect((await readdir(dir)).sort()).toEqual(['internal-gateway.key', 'internal-scheduler.key']);
  });

  it('ends with one key when six processes race', async () => {
    const dir = await tempDir();
    const module = fileURLToPath(new URL('./keys.ts', import.meta.url));
    // Every child waits for the same instant, so the calls really overlap.
    const script = `const { loadDevPrivateKey } = await import(${JSON.stringify(module)});
      const { createPublicKey } = await import('node:crypto');
      await new Promise((resolve) => setTimeout(resolve, Number(process.argv[2]) - Date.now()));
      const k = await loadDevPrivateKey(process.argv[1], 'gateway');
      process.stdout.write(createPublicKey(k).export({ type: 'spki', format: 'der' }).toString('base64'));`;
    const startAt = String(Date.now() + 1500);
    const outputs = await Promise.all(Array.from({ length: 6 }, () => run(process.execPath, ['--input-type=module', '-e', script, dir, startAt])));
    expect(new Set(outputs.map((o) => o.stdout)).size).toBe(1);
    expect(await readdir(dir)).toEqual(['internal-gateway.key']);
    expect(spki(createPublicKey(await loadDevPrivateKey(dir, 'gateway')))).toBe(outputs[0]!.stdout);
  });
});

describe('readOrCreateDevFile', () => {
  it('creates the file once (0600) even when many callers race, and everyone reads the winner', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'csda-devfile-'));
    try {
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => readOrCreateDevFile(join(dir, 'keys'), 'secret', () => `value-${i}`)));
      expect(new Set(results).size).toBe(1);
      expect(results[0]).toMatch(/^value-\d$/);
      expect((await stat(join(dir, 'keys', 'secret'))).mode & 0o777).toBe(0o600);
      expect(await readdir(join(dir, 'keys'))).toEqual(['secret']);
      expect(await readOrCreateDevFile(join(dir, 'keys'), 'secret', () => 'other')).toBe(results[0]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
