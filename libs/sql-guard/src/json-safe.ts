import pg from 'pg';

/**
 * Type parsers that keep every value JSON-safe and lossless: bigint and
 * numeric stay strings (pg's default), bytea becomes base64, date and
 * timestamps stay ISO-8601 text (no JS `Date`, which would drop microseconds).
 */
const TEXT = (v: string) => v;
const OIDS = { BYTEA: 17, DATE: 1082, TIMESTAMP: 1114, TIMESTAMPTZ: 1184, TIME: 1083, TIMETZ: 1266, INTERVAL: 1186 } as const;
// array types of the above, parsed element by element with the same rules
const ARRAYS: Record<number, (v: string) => unknown> = {};

function timestampToIso(v: string): string {
  if (v === 'infinity' || v === '-infinity') return v;
  // "2026-12-01 13:20:00.123456+00" → "2026-12-01T13:20:00.123456+00:00"
  return v.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00');
}

function byteaToBase64(v: string): string {
  const parse = pg.types.getTypeParser(OIDS.BYTEA, 'text') as (s: string) => Buffer;
  return parse(v).toString('base64');
}

const arrayOf = (element: (v: string) => unknown) => (v: string) =>
  (pg.types as unknown as { arrayParser: { create(s: string, t: (v: string) => unknown): { parse(): unknown } } }).arrayParser.create(v, element).parse();
ARRAYS[1001] = arrayOf(byteaToBase64);
ARRAYS[1182] = arrayOf(TEXT); // date[]
ARRAYS[1183] = arrayOf(TEXT); // time[]
ARRAYS[1270] = arrayOf(TEXT); // timetz[]
ARRAYS[1187] = arrayOf(TEXT); // interval[]
ARRAYS[1115] = arrayOf(timestampToIso);
ARRAYS[1185] = arrayOf(timestampToIso);

export const jsonSafeTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (v: string) => unknown {
    const array = ARRAYS[oid];
    if (array) return array;
    switch (oid) {
      case OIDS.BYTEA:
        return byteaToBase64;
      case OIDS.DATE:
      case OIDS.TIME:
      case OIDS.TIMETZ:
      case OIDS.INTERVAL:
        return TEXT;
      case OIDS.TIMESTAMP:
      case OIDS.TIMESTAMPTZ:
        return timestampToIso;
      default:
        return pg.types.getTypeParser(oid, format ?? 'text') as (v: string) => unknown;
    }
  },
};

/** Whatever default parsers produced (arrays of dates, bytea arrays, …) made JSON-safe. */
export function toJsonSafe(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? String(value) : value.toISOString();
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (Array.isArray(value)) return value.map(toJsonSafe);
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toJsonSafe(v);
    return out;
  }
  return value;
}
