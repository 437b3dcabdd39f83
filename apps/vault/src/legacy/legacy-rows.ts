import { parse } from 'csv-parse/sync';
import { LegacyImportError, RowProblem } from './legacy-error.ts';

/** One row of a legacy table with a human-readable position (index or CSV line). */
export interface RawRow {
  readonly position: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export type ExportFormat = 'json' | 'csv';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses JSON without letting the SyntaxError (which quotes the input) escape. */
export function parseJson(text: string, table: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw LegacyImportError.input(table, 'input is not valid JSON');
  }
}

/** Turns a JSON array of rows into RawRows; non-object rows become empty rows flagged later. */
export function jsonRows(value: unknown, table: string): RawRow[] {
  if (!Array.isArray(value)) {
    throw LegacyImportError.input(table, 'expected a JSON array of rows');
  }
  return value.map((row, index) => ({
    position: `${table}[${index}]`,
    fields: isRecord(row) ? row : { __notObject: true },
  }));
}

/**
 * Parses a CSV table with a header row. Unquoted empty fields are NULL (as in
 * PostgreSQL's `COPY … CSV`), quoted empty fields are empty strings.
 */
export function csvRows(text: string, table: string, requiredColumns: readonly string[]): RawRow[] {
  let records: { record: Record<string, string | null>; info: { lines: number } }[];
  try {
    records = parse(text, {
      bom: true,
      columns: (header: string[]) => header.map((name) => name.trim()),
      info: true,
      skip_empty_lines: true,
      cast: (value, context) => (value === '' && !context.quoting ? null : value),
    }) as typeof records;
  } catch (error) {
    // csv-parse messages can quote field contents: keep only the code and line.
    const details = error as { code?: unknown; lines?: unknown };
    const code = typeof details.code === 'string' ? ` (${details.code})` : '';
    const line = typeof details.lines === 'number' ? ` line ${details.lines}` : '';
    throw LegacyImportError.input(`${table}${line}`, `malformed CSV${code}`);
  }
  const columns = new Set(Object.keys(records[0]?.record ?? {}));
  const missing = requiredColumns.filter((c) => !columns.has(c));
  if (records.length > 0 && missing.length > 0) {
    throw LegacyImportError.input(table, `CSV header lacks column(s) ${missing.join(', ')}`);
  }
  return records.map(({ record, info }) => ({ position: `${table} line ${info.lines}`, fields: record }));
}

/** Reads a whole table from text in the given format; JSON may wrap rows as `{ [table]: [...] }`. */
export function readTable(text: string, format: ExportFormat, table: string, required: readonly string[]): RawRow[] {
  if (format === 'csv') return csvRows(text, table, required);
  const value = parseJson(text, table);
  return jsonRows(isRecord(value) ? value[table] : value, table);
}

/** Reads the JSON export: either an array of secrets or `{ secrets, secret_versions? }`. */
export function readJsonExport(text: string): { secrets: RawRow[]; versions: RawRow[] | undefined } {
  const value = parseJson(text, 'secrets');
  if (Array.isArray(value)) return { secrets: jsonRows(value, 'secrets'), versions: undefined };
  if (isRecord(value) && Array.isArray(value.secrets)) {
    const versions = value.secret_versions;
    return {
      secrets: jsonRows(value.secrets, 'secrets'),
      versions: versions === undefined || versions === null ? [] : jsonRows(versions, 'secret_versions'),
    };
  }
  throw LegacyImportError.input('secrets', 'expected an array of secrets or an object with a "secrets" array');
}

// ---- field readers: each throws RowProblem naming the field, never its content ----

// Legacy ids are integer primary keys (UUIDs tolerated). Anything else is
// refused rather than printed: a misplaced value must never reach a message.
const ID_PATTERN = /^(?:\d{1,19}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

function present(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/** A legacy id (integer or UUID, as number or text), safe to print in messages. */
export function idField(fields: Readonly<Record<string, unknown>>, name: string): string | null {
  const value = fields[name];
  if (!present(value)) return null;
  const text = typeof value === 'number' && Number.isSafeInteger(value) ? String(value) : value;
  if (typeof text !== 'string' || !ID_PATTERN.test(text.trim())) {
    throw new RowProblem(`${name} is not a valid id`);
  }
  return text.trim();
}

/** Like {@link idField} but never throws: for labelling rows. */
export function safeId(fields: Readonly<Record<string, unknown>>, name: string): string | null {
  try {
    return idField(fields, name);
  } catch {
    return null;
  }
}

export function textField(fields: Readonly<Record<string, unknown>>, name: string): string | null {
  const value = fields[name];
  if (!present(value)) return null;
  if (typeof value !== 'string') throw new RowProblem(`${name} is not text`);
  return value;
}

const TRUE = new Set(['true', 't', '1', 'yes', 'y']);
const FALSE = new Set(['false', 'f', '0', 'no', 'n']);

export function boolField(fields: Readonly<Record<string, unknown>>, name: string): boolean | null {
  const value = fields[name];
  if (!present(value)) return null;
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (TRUE.has(text)) return true;
    if (FALSE.has(text)) return false;
  }
  throw new RowProblem(`${name} is not a boolean`);
}

export function intField(fields: Readonly<Record<string, unknown>>, name: string, min: number): number | null {
  const value = fields[name];
  if (!present(value)) return null;
  const number = typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number) || number < min) {
    throw new RowProblem(`${name} is not an integer >= ${min}`);
  }
  return number;
}

// ISO 8601 (Python isoformat) and PostgreSQL text timestamps; no zone means UTC
// (the legacy models stored naive datetime.utcnow() values).
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}(?::\d{2})?)(\.\d+)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

export function dateField(fields: Readonly<Record<string, unknown>>, name: string): Date | null {
  const value = fields[name];
  if (!present(value)) return null;
  const match = typeof value === 'string' ? TIMESTAMP.exec(value.trim()) : null;
  if (match === null) throw new RowProblem(`${name} is not a timestamp`);
  const [, day, time = '00:00:00', fraction = '', zone = 'Z'] = match;
  const offset = /^[+-]\d{2}$/.test(zone) ? `${zone}:00` : zone.replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
  const date = new Date(`${day}T${time.length === 5 ? `${time}:00` : time}${fraction.slice(0, 4)}${offset.toUpperCase()}`);
  if (Number.isNaN(date.getTime()) || (offset.toUpperCase() === 'Z' && !date.toISOString().startsWith(day ?? ''))) {
    throw new RowProblem(`${name} is not a valid timestamp`);
  }
  return date;
}

/** Tags as a JSON array (value or text), a PostgreSQL array literal, or a comma list. */
export function tagsField(fields: Readonly<Record<string, unknown>>, name: string): string[] {
  const value = fields[name];
  if (!present(value)) return [];
  let items: unknown[];
  if (Array.isArray(value)) {
    items = value;
  } else if (typeof value !== 'string') {
    throw new RowProblem(`${name} is not a list`);
  } else if (value.trim().startsWith('[')) {
    try {
      items = JSON.parse(value) as unknown[];
    } catch {
      throw new RowProblem(`${name} is not a valid JSON array`);
    }
    if (!Array.isArray(items)) throw new RowProblem(`${name} is not a valid JSON array`);
  } else {
    const text = value.trim().replace(/^\{(.*)\}$/s, '$1');
    items = text.split(',').map((t) => t.trim().replace(/^"(.*)"$/s, '$1'));
  }
  if (!items.every((t): t is string => typeof t === 'string')) {
    throw new RowProblem(`${name} must hold strings only`);
  }
  return [...new Set(items.map((t) => t.trim()).filter((t) => t !== ''))];
}
