import { isFernetKey } from '@csda/crypto';
import { LegacyImportError, RowProblem, type LegacyIssue } from './legacy-error.ts';
import { decodeLegacyValue } from './legacy-value.ts';
import {
  boolField,
  dateField,
  idField,
  intField,
  readJsonExport,
  readTable,
  safeId,
  tagsField,
  textField,
  type ExportFormat,
  type RawRow,
} from './legacy-rows.ts';

export { LegacyImportError, type LegacyIssue } from './legacy-error.ts';

/** One version of a legacy secret, plaintext decoded. */
export interface LegacySecretVersion {
  /** The legacy `version_number`; the current value not in history gets last + 1. */
  readonly version: number;
  readonly value: Buffer;
  readonly createdAt: Date | null;
  /** `rotation_reason`; null for the current value and where the legacy row had none. */
  readonly reason: string | null;
}

/** A secret of the Python system's `secrets` table with its history, ready to re-encrypt. */
export interface LegacySecret {
  readonly legacyId: string;
  readonly name: string;
  readonly description: string | null;
  readonly ownerLegacyId: string | null;
  readonly tags: readonly string[];
  readonly isActive: boolean;
  readonly createdAt: Date | null;
  readonly updatedAt: Date | null;
  readonly expiresAt: Date | null;
  readonly rotationDays: number | null;
  readonly lastRotatedAt: Date | null;
  readonly nextRotationAt: Date | null;
  /** Ascending by version; never empty. */
  readonly versions: readonly LegacySecretVersion[];
}

/** The exported tables as text. */
export interface LegacyExportInput {
  /** JSON: an array of secret rows or `{ "secrets": [...], "secret_versions": [...] }`; CSV: header + rows. */
  readonly secrets: string;
  /** `secret_versions` in the same format; ignored when the JSON export already holds them. */
  readonly versions?: string;
  readonly format: ExportFormat;
}

interface ParsedVersion extends LegacySecretVersion {
  readonly position: string;
}

class Issues {
  readonly list: LegacyIssue[] = [];
  add(row: string, problem: string): void {
    this.list.push({ row, problem });
  }
  /** Runs `read`, recording a RowProblem against `row`; other errors propagate. */
  guard<T>(row: string, read: () => T): T | undefined {
    try {
      return read();
    } catch (error) {
      if (!(error instanceof RowProblem)) throw error;
      this.add(row, error.message);
      return undefined;
    }
  }
}

function secretLabel(row: RawRow): string {
  const id = safeId(row.fields, 'id');
  return id === null ? row.position : `${row.position} (id ${id})`;
}

function versionLabel(row: RawRow): string {
  const id = safeId(row.fields, 'secret_id');
  const version = safeId(row.fields, 'version_number');
  return id === null ? row.position : `${row.position} (secret ${id}${version === null ? '' : `, version ${version}`})`;
}

function required<T>(value: T | null, problem: string): T {
  if (value === null) throw new RowProblem(problem);
  return value;
}

function readVersions(rows: readonly RawRow[], fernetKey: string | undefined, issues: Issues): Map<string, ParsedVersion[]> {
  const bySecret = new Map<string, ParsedVersion[]>();
  for (const row of rows) {
    const label = versionLabel(row);
    const parsed = issues.guard(label, () => {
      const f = row.fields;
      if (f.__notObject === true) throw new RowProblem('row is not an object');
      const secretId = required(idField(f, 'secret_id'), 'secret_id is missing');
      const version = required(intField(f, 'version_number', 1), 'version_number is missing');
      const raw = required(textField(f, 'encrypted_value'), 'encrypted_value is missing');
      const hint = { isEncrypted: boolField(f, 'is_encrypted'), keyId: textField(f, 'encryption_key_id') };
      const reason = textField(f, 'rotation_reason');
      const createdAt = dateField(f, 'created_at');
      const value = decodeLegacyValue(raw, hint, fernetKey);
      return { secretId, entry: { position: label, version, value, createdAt, reason } };
    });
    if (parsed === undefined) continue;
    const list = bySecret.get(parsed.secretId) ?? [];
    if (list.some((v) => v.version === parsed.entry.version)) {
      issues.add(label, 'duplicate version_number for this secret');
      continue;
    }
    list.push(parsed.entry);
    bySecret.set(parsed.secretId, list);
  }
  for (const list of bySecret.values()) list.sort((a, b) => a.version - b.version);
  return bySecret;
}

function readSecret(row: RawRow, history: readonly ParsedVersion[], fernetKey: string | undefined): LegacySecret {
  const f = row.fields;
  if (f.__notObject === true) throw new RowProblem('row is not an object');
  const legacyId = required(idField(f, 'id'), 'id is missing');
  const name = textField(f, 'name')?.trim() ?? '';
  if (name === '') throw new RowProblem('name is missing');
  const createdAt = dateField(f, 'created_at');
  const updatedAt = dateField(f, 'updated_at');
  const raw = textField(f, 'encrypted_value');
  const hint = { isEncrypted: boolField(f, 'is_encrypted'), keyId: textField(f, 'encryption_key_id') };
  const secret = {
    legacyId,
    name,
    description: textField(f, 'description'),
    ownerLegacyId: idField(f, 'user_id'),
    tags: tagsField(f, 'tags'),
    isActive: boolField(f, 'is_active') ?? true,
    createdAt,
    updatedAt,
    expiresAt: dateField(f, 'expires_at'),
    rotationDays: intField(f, 'rotation_days', 0),
    lastRotatedAt: dateField(f, 'last_rotated'),
    nextRotationAt: dateField(f, 'next_rotation'),
  };
  const versions: LegacySecretVersion[] = history.map(({ version, value, createdAt: at, reason }) => ({
    version,
    value,
    createdAt: at,
    reason,
  }));
  // An empty current value is NULL in a CSV dump and means "no value" in the legacy model.
  if (raw !== null && raw !== '') {
    const current = decodeLegacyValue(raw, hint, fernetKey);
    const last = versions.at(-1);
    if (last === undefined || !last.value.equals(current)) {
      versions.push({ version: (last?.version ?? 0) + 1, value: current, createdAt: updatedAt ?? createdAt, reason: null });
    } else {
      current.fill(0);
    }
  }
  if (versions.length === 0) throw new RowProblem('secret has no value and no history');
  return { ...secret, versions };
}

/**
 * Parses the Python system's `secrets` (and optional `secret_versions`) export
 * into plaintext secrets with ascending versions. Fernet values are decoded
 * with `fernetKey` (its `ENCRYPTION_KEY`), plaintext values taken as UTF-8. The
 * row's current value becomes the last version when it differs from the last
 * history entry, or the only version when there is no history.
 *
 * Every row is checked before anything is returned; value buffers are fresh
 * per version, so callers may zero them after use.
 * @throws LegacyImportError listing every bad row by position and legacy id,
 * never including a value, token or key.
 */
export function parseLegacyExport(input: LegacyExportInput, fernetKey: string | undefined): LegacySecret[] {
  if (fernetKey !== undefined && !isFernetKey(fernetKey)) {
    throw LegacyImportError.input('Fernet key', 'not 32 bytes of url-safe base64 (expected the legacy ENCRYPTION_KEY)');
  }
  let secretRows: RawRow[];
  let versionRows: RawRow[];
  if (input.format === 'json') {
    const exported = readJsonExport(input.secrets);
    secretRows = exported.secrets;
    versionRows = exported.versions ?? (input.versions === undefined ? [] : readVersionTable(input.versions, 'json'));
  } else if (input.format === 'csv') {
    secretRows = readTable(input.secrets, 'csv', 'secrets', ['id', 'name', 'encrypted_value']);
    versionRows = input.versions === undefined ? [] : readVersionTable(input.versions, 'csv');
  } else {
    throw LegacyImportError.input('input', 'format must be "json" or "csv"');
  }

  const issues = new Issues();
  const history = readVersions(versionRows, fernetKey, issues);
  const secrets: LegacySecret[] = [];
  const seen = new Set<string>();
  for (const row of secretRows) {
    const label = secretLabel(row);
    const id = safeId(row.fields, 'id');
    const secret = issues.guard(label, () => readSecret(row, (id !== null && history.get(id)) || [], fernetKey));
    if (secret === undefined) continue;
    if (seen.has(secret.legacyId)) {
      issues.add(label, 'duplicate id');
      continue;
    }
    seen.add(secret.legacyId);
    secrets.push(secret);
  }
  const exportedIds = new Set(secretRows.map((r) => safeId(r.fields, 'id')));
  for (const [secretId, versions] of history) {
    if (exportedIds.has(secretId)) continue;
    for (const v of versions) issues.add(v.position, 'refers to a secret that is not in the export');
  }
  if (issues.list.length > 0) {
    // Nothing is returned: wipe the plaintext decoded so far.
    for (const versions of history.values()) for (const v of versions) v.value.fill(0);
    for (const secret of secrets) for (const v of secret.versions) v.value.fill(0);
    throw new LegacyImportError(issues.list);
  }
  return secrets;
}

function readVersionTable(text: string, format: ExportFormat): RawRow[] {
  return readTable(text, format, 'secret_versions', ['secret_id', 'version_number', 'encrypted_value']);
}
