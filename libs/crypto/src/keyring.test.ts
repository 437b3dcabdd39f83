import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { KeyringError } from './errors.ts';
import { addKey, generateKeyring, parseKeyring, removeKey } from './keyring.ts';

const k1 = randomBytes(32).toString('base64');
const k2 = randomBytes(32).toString('base64');

function expectKeyringError(text: string, secrets: readonly string[], pattern: RegExp): void {
  let caught: unknown;
  try {
    parseKeyring(text);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(KeyringError);
  const error = caught as KeyringError;
  expect(error.message).toMatch(pattern);
  expect(error.cause).toBeUndefined();
  const rendered = `${error.message}\n${error.stack ?? ''}\n${inspect(error)}`;
  for (const secret of secrets) {
    expect(rendered).not.toContain(secret);
    expect(rendered).not.toContain(secret.slice(0, 12));
  }
}

describe('parseKeyring', () => {
  it('parses a valid keyring into key objects', () => {
    const keyring = parseKeyring(JSON.stringify({ active: 'k2', keys: { k1, k2 } }));
    expect(keyring.activeId).toBe('k2');
    expect([...keyring.keys.keys()]).toEqual(['k1', 'k2']);
    expect(keyring.keys.get('k1')?.export().toString('base64')).toBe(k1);
    expect(keyring.keys.get('k2')?.symmetricKeySize).toBe(32);
  });

  it('keeps raw key bytes out of inspect and JSON output', () => {
    const keyring = parseKeyring(JSON.stringify({ active: 'k1', keys: { k1 } }));
    const raw = Buffer.from(k1, 'base64');
    const shown = `${inspect(keyring, { depth: 10 })}${JSON.stringify(keyring)}`;
    expect(shown).not.toContain(k1);
    expect(shown).not.toContain(raw.toString('hex'));
    expect(shown).not.toContain(inspect(raw).slice(8, 30));
  });

  it.each([
    ['not JSON', `{"active":"k1","keys":{"k1":"${k1}"`, /not valid JSON/],
    ['an array', JSON.stringify([k1]), /must be a JSON object/],
    ['empty', '  ', /empty/],
    ['missing active', JSON.stringify({ keys: { k1 } }), /"active"/],
    ['active not in keys', JSON.stringify({ active: 'k3', keys: { k1, k2 } }), /"k3" is not in "keys"/],
    ['no keys', JSON.stringify({ active: 'k1', keys: {} }), /no keys|not in "keys"/],
    ['extra property', JSON.stringify({ active: 'k1', keys: { k1 }, old: k2 }), /unknown properties/],
    ['bad id', JSON.stringify({ active: 'k1', keys: { k1, 'bad id': k2 } }), /key id/],
    ['too long id', JSON.stringify({ active: 'k1', keys: { k1, ['x'.repeat(65)]: k2 } }), /key id/],
    ['short key', JSON.stringify({ active: 'k1', keys: { k1: k1.slice(0, 40) } }), /"k1" must be .* 32 bytes/],
    ['31-byte key', JSON.stringify({ active: 'k1', keys: { k1: randomBytes(31).toString('base64') } }), /32 bytes/],
    ['33-byte key', JSON.stringify({ active: 'k1', keys: { k1: randomBytes(33).toString('base64') } }), /32 bytes/],
    ['base64url key', JSON.stringify({ active: 'k1', keys: { k1: '-'.repeat(43) + '=' } }), /32 bytes/],
    ['non-string key', JSON.stringify({ active: 'k1', keys: { k1: 42 } }), /32 bytes/],
  ])('rejects %s without echoing key material', (_name, text, pattern) => {
    expectKeyringError(text, [k1, k2], pattern);
  });
});

describe('generateKeyring / addKey / removeKey', () => {
  it('generates a parseable keyring with a fresh key each time', () => {
    const a = parseKeyring(generateKeyring());
    const b = parseKeyring(generateKeyring('main'));
    expect(a.activeId).toBe('k1');
    expect(b.activeId).toBe('main');
    expect(a.keys.get('k1')?.equals(b.keys.get('main')!)).toBe(false);
    expect(() => generateKeyring('no spaces')).toThrow(KeyringError);
  });

  it('adds a new active key and keeps the old ones', () => {
    const first = generateKeyring('k1');
    const second = addKey(first, 'k2');
    const before = parseKeyring(first);
    const after = parseKeyring(second);
    expect(after.activeId).toBe('k2');
    expect(after.keys.get('k1')?.equals(before.keys.get('k1')!)).toBe(true);
    expect(after.keys.get('k2')?.equals(before.keys.get('k1')!)).toBe(false);
    expect(() => addKey(second, 'k1')).toThrow(/already has a key "k1"/);
    expect(() => addKey('{', 'k3')).toThrow(KeyringError);
  });

  it('removes retired keys but never the active one', () => {
    const keyring = parseKeyring(addKey(generateKeyring('k1'), 'k2'));
    expect([...removeKey(keyring, 'k1').keys.keys()]).toEqual(['k2']);
    expect(() => removeKey(keyring, 'k2')).toThrow(KeyringError);
  });
});
