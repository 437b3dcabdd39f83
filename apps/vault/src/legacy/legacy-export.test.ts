import { inspect } from 'node:util';
import { encodeFernet, generateFernetKey } from '@csda/crypto';
import { describe, expect, it } from 'vitest';
import { LegacyImportError, parseLegacyExport, type LegacySecret } from './legacy-export.ts';

const key = generateFernetKey();
const otherKey = generateFernetKey();
const fernet = (value: string, k = key): string => encodeFernet(Buffer.from(value, 'utf8'), k);

// Every plaintext and token used below; none may ever show up in an error.
const SECRETS = {
  plain: 'PLAIN-db-password-7f3a',
  api: 'sk-live-FERNET-91b2c',
  v1: 'HISTORY-v1-aa11',
  v2: 'HISTORY-v2-bb22',
  v3: 'HISTORY-v3-cc33',
  unicode: 'pässwörd, "quoted"\nline2',
};
const tokens: string[] = [];
const tok = (value: string, k = key): string => {
  const token = fernet(value, k);
  tokens.push(token);
  return token;
};

function caught(run: () => unknown): LegacyImportError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(LegacyImportError);
    const e = error as LegacyImportError;
    const rendered = `${e.message}\n${e.stack ?? ''}\n${JSON.stringify(e.issues)}\n${inspect(e)}`;
    for (const secret of Object.values(SECRETS)) expect(rendered).not.toContain(secret);
    for (const token of tokens) expect(rendered).not.toContain(token.slice(20, 40));
    expect(rendered).not.toContain(key.slice(0, 20));
    return e;
  }
  throw new Error('expected a LegacyImportError');
}

const text = (s: LegacySecret): string[] => s.versions.map((v) => v.value.toString('utf8'));

describe('parseLegacyExport — JSON', () => {
  it('decodes mixed plaintext and Fernet rows and maps the metadata', () => {
    const rows = [
      {
        id: 1,
        name: 'db',
        description: 'primary',
        encrypted_value: SECRETS.plain,
        is_encrypted: false,
        user_id: 7,
        tags: '["prod", "db"]',
        created_at: '2023-01-02 03:04:05.123456',
        updated_at: '2023-02-01T00:00:00+00:00',
        expires_at: null,
        is_active: true,
        rotation_days: 30,
        last_rotated: '2023-02-01T00:00:00Z',
        next_rotation: '2023-03-03 00:00:00+01',
      },
      { id: 2, name: 'api', encrypted_value: tok(SECRETS.api), is_encrypted: true, tags: 'a, b,,a', is_active: 'f' },
      // The legacy setter wrote encryption_key_id but left is_encrypted false.
      { id: '3', name: 'legacy-setter', encrypted_value: tok(SECRETS.unicode), is_encrypted: false, encryption_key_id: 'fernet_v1' },
      // Old schema without is_encrypted: a token is recognised by its shape.
      { id: 4, name: 'old-schema', encrypted_value: tok(SECRETS.v1) },
    ];
    const secrets = parseLegacyExport({ secrets: JSON.stringify(rows), format: 'json' }, key);
    expect(secrets.map((s) => s.legacyId)).toEqual(['1', '2', '3', '4']);
    expect(secrets.map((s) => text(s)[0])).toEqual([SECRETS.plain, SECRETS.api, SECRETS.unicode, SECRETS.v1]);
    const [db, api] = secrets;
    expect(db).toMatchObject({
      name: 'db',
      description: 'primary',
      ownerLegacyId: '7',
      tags: ['prod', 'db'],
      isActive: true,
      rotationDays: 30,
      expiresAt: null,
    });
    expect(db?.createdAt?.toISOString()).toBe('2023-01-02T03:04:05.123Z');
    expect(db?.nextRotationAt?.toISOString()).toBe('2023-03-02T23:00:00.000Z');
    expect(db?.versions).toEqual([
      { version: 1, value: Buffer.from(SECRETS.plain), createdAt: new Date('2023-02-01T00:00:00Z'), reason: null },
    ]);
    expect(api).toMatchObject({ tags: ['a', 'b'], isActive: false, ownerLegacyId: null, description: null });
  });

  it('orders history, appends a differing current value and does not duplicate an equal one', () => {
    const doc = {
      secrets: [
        { id: 10, name: 'rotated', encrypted_value: tok(SECRETS.v3), is_encrypted: true, updated_at: '2024-03-01' },
        { id: 11, name: 'same', encrypted_value: tok(SECRETS.v2), is_encrypted: true },
      ],
      secret_versions: [
        { secret_id: 10, version_number: 2, encrypted_value: tok(SECRETS.v2), encryption_key_id: 'fernet_v1', rotation_reason: 'automatic_rotation', created_at: '2024-02-01' },
        { secret_id: 10, version_number: 1, encrypted_value: SECRETS.v1, created_at: '2024-01-01' },
        { secret_id: 11, version_number: 5, encrypted_value: tok(SECRETS.v2), is_encrypted: true },
        { secret_id: 11, version_number: 3, encrypted_value: SECRETS.v1, is_encrypted: false },
      ],
    };
    const [rotated, same] = parseLegacyExport(
      { secrets: JSON.stringify(doc), versions: 'ignored: not JSON', format: 'json' },
      key,
    );
    expect(rotated?.versions.map((v) => v.version)).toEqual([1, 2, 3]);
    expect(text(rotated!)).toEqual([SECRETS.v1, SECRETS.v2, SECRETS.v3]);
    expect(rotated?.versions.map((v) => v.reason)).toEqual([null, 'automatic_rotation', null]);
    expect(rotated?.versions[2]?.createdAt?.toISOString()).toBe('2024-03-01T00:00:00.000Z');
    expect(same?.versions.map((v) => v.version)).toEqual([3, 5]);
    expect(text(same!)).toEqual([SECRETS.v1, SECRETS.v2]);
    // Every version has its own buffer, so callers can zero them one by one.
    expect(same?.versions[0]?.value.buffer === same?.versions[1]?.value.buffer && same?.versions[0]?.value.byteOffset === same?.versions[1]?.value.byteOffset).toBe(false);
  });

  it('reads versions from a separate JSON document', () => {
    const uuid = '0b7e4c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b';
    const secrets = JSON.stringify([{ id: uuid, name: 'x', encrypted_value: null, user_id: uuid.toUpperCase() }]);
    const versions = JSON.stringify({ secret_versions: [{ secret_id: uuid, version_number: '1', encrypted_value: SECRETS.v1 }] });
    const [only] = parseLegacyExport({ secrets, versions, format: 'json' }, undefined);
    expect(only).toMatchObject({ legacyId: uuid, ownerLegacyId: uuid.toUpperCase() });
    expect(text(only!)).toEqual([SECRETS.v1]);
  });
});

describe('parseLegacyExport — CSV', () => {
  it('parses PostgreSQL-style CSV with NULLs, quoting and multi-line values', () => {
    const quote = (s: string): string => `"${s.replace(/"/g, '""')}"`;
    const secrets = [
      'id,name,description,encrypted_value,is_encrypted,encryption_key_id,user_id,tags,created_at,updated_at,expires_at,is_active,rotation_days,last_rotated,next_rotation',
      `1,db,,${quote(SECRETS.unicode)},f,,7,${quote('["prod","eu"]')},2023-01-02 03:04:05+00,,,t,,,`,
      `2,api,"",${tok(SECRETS.api)},t,fernet_v1,,"{ops,""on call""}",2023-01-02T00:00:00,,2030-01-01 00:00:00,t,90,,`,
      '',
    ].join('\n');
    const versions = [
      'secret_id,version_number,encrypted_value,encryption_key_id,is_active,rotation_reason,created_at',
      `2,1,${tok(SECRETS.v1)},fernet_v1,f,manual,2023-01-01 00:00:00`,
    ].join('\n');
    const [db, api] = parseLegacyExport({ secrets, versions, format: 'csv' }, key);
    expect(text(db!)).toEqual([SECRETS.unicode]);
    expect(db).toMatchObject({ description: null, ownerLegacyId: '7', tags: ['prod', 'eu'], rotationDays: null, updatedAt: null });
    expect(db?.versions[0]?.createdAt?.toISOString()).toBe('2023-01-02T03:04:05.000Z');
    expect(api).toMatchObject({ description: '', tags: ['ops', 'on call'], rotationDays: 90 });
    expect(api?.expiresAt?.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(text(api!)).toEqual([SECRETS.v1, SECRETS.api]);
    expect(api?.versions.map((v) => [v.version, v.reason])).toEqual([[1, 'manual'], [2, null]]);
  });

  it('names the CSV line of a bad row and hides csv-parse messages that quote values', () => {
    const secrets = `id,name,encrypted_value,is_encrypted\n1,a,${SECRETS.plain},f\n2,b,${tok(SECRETS.api)},t\n3,c,x,maybe\n`;
    const error = caught(() => parseLegacyExport({ secrets, format: 'csv' }, otherKey));
    expect(error.issues).toEqual([
      { row: 'secrets line 3 (id 2)', problem: expect.stringMatching(/does not match the given key/) },
      { row: 'secrets line 4 (id 3)', problem: 'is_encrypted is not a boolean' },
    ]);
    const broken = caught(() => parseLegacyExport({ secrets: `id,name,encrypted_value\n1,a,x"${SECRETS.plain}"\n`, format: 'csv' }, key));
    expect(broken.message).toMatch(/secrets line 2: malformed CSV \(INVALID_OPENING_QUOTE\)/);
    const columns = caught(() => parseLegacyExport({ secrets: 'id,name\n1,a\n', format: 'csv' }, key));
    expect(columns.message).toMatch(/lacks column\(s\) encrypted_value/);
  });
});

describe('parseLegacyExport — errors', () => {
  it('asks for the key when a Fernet row is found without one', () => {
    const secrets = JSON.stringify([{ id: 5, name: 'n', encrypted_value: tok(SECRETS.api), is_encrypted: true }]);
    const error = caught(() => parseLegacyExport({ secrets, format: 'json' }, undefined));
    expect(error.issues).toEqual([{ row: 'secrets[0] (id 5)', problem: 'value is Fernet-encrypted but no Fernet key was given' }]);
  });

  it('names the row a wrong key fails on', () => {
    const secrets = JSON.stringify([
      { id: 1, name: 'ok', encrypted_value: SECRETS.plain, is_encrypted: false },
      { id: 42, name: 'n', encrypted_value: tok(SECRETS.api), is_encrypted: true },
    ]);
    const error = caught(() => parseLegacyExport({ secrets, format: 'json' }, otherKey));
    expect(error.issues).toHaveLength(1);
    expect(error.message).toMatch(/secrets\[1\] \(id 42\): Fernet token does not match the given key/);
    expect(error.code).toBe('VALIDATION_ERROR');
  });

  it('refuses an invalid key and a token-shaped value that does not decrypt', () => {
    const secrets = JSON.stringify([{ id: 1, name: 'n', encrypted_value: tok(SECRETS.api, otherKey), is_encrypted: false }]);
    expect(caught(() => parseLegacyExport({ secrets, format: 'json' }, 'not-a-key')).message).toMatch(/Fernet key: not 32 bytes/);
    expect(caught(() => parseLegacyExport({ secrets, format: 'json' }, key)).issues[0]?.problem).toMatch(
      /looks like a Fernet token but is not marked encrypted/,
    );
    const marked = JSON.stringify([{ id: 1, name: 'n', encrypted_value: SECRETS.plain, is_encrypted: true }]);
    expect(caught(() => parseLegacyExport({ secrets: marked, format: 'json' }, key)).issues[0]?.problem).toBe(
      'value is marked encrypted but is not a Fernet token',
    );
  });

  it('collects every bad row, naming rows without echoing values', () => {
    const doc = {
      secrets: [
        { id: 1, name: '', encrypted_value: SECRETS.plain },
        { id: 2, name: 'dup', encrypted_value: SECRETS.plain },
        { id: 2, name: 'dup', encrypted_value: SECRETS.plain },
        { id: 3, name: 'no value', encrypted_value: null },
        { id: 4, name: 'bad date', encrypted_value: SECRETS.plain, created_at: SECRETS.v1 },
        { id: 5, name: 'bad tags', encrypted_value: SECRETS.plain, tags: `[${SECRETS.v2}` },
        { id: SECRETS.v3, name: 'bad id', encrypted_value: SECRETS.plain },
        'not an object',
        { id: 6, name: 'bad rotation', encrypted_value: SECRETS.plain, rotation_days: -1 },
        { id: 7, name: 'ok', encrypted_value: SECRETS.plain },
      ],
      secret_versions: [
        { secret_id: 7, version_number: 1, encrypted_value: SECRETS.v1 },
        { secret_id: 7, version_number: 1, encrypted_value: SECRETS.v2 },
        { secret_id: 99, version_number: 1, encrypted_value: SECRETS.v1 },
        { secret_id: 7, version_number: 0, encrypted_value: SECRETS.v1 },
      ],
    };
    const error = caught(() => parseLegacyExport({ secrets: JSON.stringify(doc), format: 'json' }, key));
    expect(error.issues).toEqual([
      { row: 'secret_versions[1] (secret 7, version 1)', problem: 'duplicate version_number for this secret' },
      { row: 'secret_versions[3] (secret 7, version 0)', problem: 'version_number is not an integer >= 1' },
      { row: 'secrets[0] (id 1)', problem: 'name is missing' },
      { row: 'secrets[2] (id 2)', problem: 'duplicate id' },
      { row: 'secrets[3] (id 3)', problem: 'secret has no value and no history' },
      { row: 'secrets[4] (id 4)', problem: 'created_at is not a timestamp' },
      { row: 'secrets[5] (id 5)', problem: 'tags is not a valid JSON array' },
      { row: 'secrets[6]', problem: 'id is not a valid id' },
      { row: 'secrets[7]', problem: 'row is not an object' },
      { row: 'secrets[8] (id 6)', problem: 'rotation_days is not an integer >= 0' },
      { row: 'secret_versions[2] (secret 99, version 1)', problem: 'refers to a secret that is not in the export' },
    ]);
    expect(error.message).toMatch(/^legacy export has 11 problem\(s\): .*; and 1 more$/);
  });

  it('never echoes invalid JSON input', () => {
    const error = caught(() => parseLegacyExport({ secrets: `[{"id":1,"encrypted_value":"${SECRETS.plain}"`, format: 'json' }, key));
    expect(error.message).toBe('legacy export has 1 problem(s): secrets: input is not valid JSON');
    expect(caught(() => parseLegacyExport({ secrets: '{"rows":[]}', format: 'json' }, key)).message).toMatch(/"secrets" array/);
  });
});
