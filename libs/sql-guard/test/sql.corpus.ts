// The SQL guard against PostgreSQL's own regression statements
// ($CSDA_CORPUS_DIR/sql, see its README): every non-read statement refused
// with a message naming its kind, every side-effect SELECT refused by the
// function deny list, the self-contained reads accepted. Prints the figures.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkReadOnlySql, deniedFunctionReason, SqlRefusedError } from '../src/index.ts';

const dir = join(process.env.CSDA_CORPUS_DIR ?? '', 'sql');

function readJsonl<T>(file: string): T[] {
  const path = join(dir, file);
  if (!existsSync(path)) throw new Error(`${path} is missing: set CSDA_CORPUS_DIR to the reference corpora folder`);
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

interface Statement {
  sql: string;
  file: string;
  line: number;
  kind: string;
  read_candidate: boolean;
  select_into: boolean;
  locking: boolean;
  nested_dml: boolean;
  modifying_cte: boolean;
}
interface SideEffect {
  sql: string;
  file: string;
  line: number;
  functions_matched: string[];
}
interface SelfContained {
  sql: string;
  file: string;
  line: number;
  side_effect_categories?: string[];
}

const timesUs: number[] = [];
function check(sql: string): SqlRefusedError | undefined {
  const t0 = process.hrtime.bigint();
  try {
    checkReadOnlySql(sql);
    return undefined;
  } catch (err) {
    if (err instanceof SqlRefusedError) return err;
    throw err;
  } finally {
    timesUs.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
}

// What a refusal's kind must look like for each top-level node, written independently of
// statement-kinds.ts: the first word(s) the message has to name.
const EXPECTED: Record<string, RegExp> = {
  InsertStmt: /^INSERT$/,
  UpdateStmt: /^UPDATE$/,
  DeleteStmt: /^DELETE$/,
  MergeStmt: /^MERGE$/,
  TruncateStmt: /^TRUNCATE$/,
  CopyStmt: /^COPY (FROM|TO)( PROGRAM)?$/,
  CallStmt: /^CALL$/,
  DoStmt: /^DO$/,
  VariableSetStmt: /^(SET|RESET|SET ROLE|SET SESSION AUTHORIZATION)$/,
  VariableShowStmt: /^SHOW$/,
  TransactionStmt: /^(BEGIN|START TRANSACTION|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT|PREPARE TRANSACTION|COMMIT PREPARED|ROLLBACK PREPARED)$/,
  ExplainStmt: /^EXPLAIN( ANALYZE)?$/,
  GrantStmt: /^(GRANT|REVOKE)$/,
  GrantRoleStmt: /^(GRANT|REVOKE) \(role\)$/,
  VacuumStmt: /^(VACUUM|ANALYZE)$/,
  IndexStmt: /^CREATE INDEX$/,
  ViewStmt: /^CREATE VIEW$/,
  RuleStmt: /^CREATE RULE$/,
  DefineStmt: /^CREATE /,
  CompositeTypeStmt: /^CREATE TYPE$/,
  CreateEnumStmt: /^CREATE TYPE/,
  CreateRangeStmt: /^CREATE TYPE/,
  CreatedbStmt: /^CREATE DATABASE$/,
  DropdbStmt: /^DROP DATABASE$/,
  CreateTableAsStmt: /^CREATE (TABLE AS|MATERIALIZED VIEW)$/,
  RenameStmt: /^ALTER … RENAME$/,
  AlterOwnerStmt: /^ALTER … OWNER TO$/,
  AlterObjectSchemaStmt: /^ALTER … SET SCHEMA$/,
  AlterTableMoveAllStmt: /^ALTER … SET TABLESPACE$/,
  AlterEnumStmt: /^ALTER TYPE$/,
  FetchStmt: /^(FETCH|MOVE)$/,
  DeclareCursorStmt: /^DECLARE CURSOR$/,
  ClosePortalStmt: /^CLOSE$/,
  PrepareStmt: /^PREPARE$/,
  ExecuteStmt: /^EXECUTE$/,
  DeallocateStmt: /^DEALLOCATE$/,
  NotifyStmt: /^NOTIFY$/,
  ListenStmt: /^LISTEN$/,
  UnlistenStmt: /^UNLISTEN$/,
  LockStmt: /^LOCK$/,
  CommentStmt: /^COMMENT$/,
  SecLabelStmt: /^SECURITY LABEL$/,
  ConstraintsSetStmt: /^SET CONSTRAINTS$/,
  CheckPointStmt: /^CHECKPOINT$/,
  DiscardStmt: /^DISCARD$/,
  LoadStmt: /^LOAD$/,
  ReindexStmt: /^REINDEX$/,
  ClusterStmt: /^CLUSTER$/,
  RefreshMatViewStmt: /^REFRESH MATERIALIZED VIEW$/,
  DropOwnedStmt: /^DROP OWNED$/,
  ReassignOwnedStmt: /^REASSIGN OWNED$/,
  ImportForeignSchemaStmt: /^IMPORT FOREIGN SCHEMA$/,
};

function expectedKind(s: Statement): RegExp {
  const fixed = EXPECTED[s.kind];
  if (fixed) return fixed;
  const verb = /^(Create|Alter|Drop)/.exec(s.kind)?.[1];
  if (verb) return new RegExp(`^${verb.toUpperCase()} \\S`);
  return /^[A-Z][A-Z …()]+$/;
}

function selectExpectations(s: Statement): Set<string> {
  const out = new Set<string>();
  if (s.select_into) out.add('SELECT INTO');
  if (s.locking) for (const k of ['FOR UPDATE', 'FOR NO KEY UPDATE', 'FOR SHARE', 'FOR KEY SHARE']) out.add(k);
  if (s.nested_dml || s.modifying_cte) out.add('data-modifying CTE');
  return out;
}

// Functions that run SQL given as text which the corpus's side-effect categories do not list:
// the query inside them escapes the parser check (it could call pg_advisory_lock), so the
// guard refuses them on purpose. A plain read refused for one of these is counted, not a mismatch.
const STRICTER_THAN_CORPUS = new Set(['function ts_stat', 'function ts_rewrite', 'function crosstab', 'function connectby', 'function xpath_table']);

const where = (x: { file: string; line: number; sql: string }) => `${x.file}:${x.line} ${x.sql.replace(/\s+/g, ' ').slice(0, 100)}`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

describe('SQL corpus through checkReadOnlySql', () => {
  const figures: Record<string, number> = {};

  it('refuses every non-read statement, naming its kind; reads are refused only by the deny list', () => {
    const statements = readJsonl<Statement>('statements.jsonl');
    expect(statements.length).toBeGreaterThan(40_000);
    const mismatches: string[] = [];
    const deniedReads = new Map<string, number>();
    let refused = 0;
    let accepted = 0;
    for (const s of statements) {
      const err = check(s.sql);
      if (err) refused++;
      else accepted++;
      if (!s.read_candidate) {
        if (!err) {
          mismatches.push(`accepted non-read ${s.kind}: ${where(s)}`);
          continue;
        }
        if (s.kind === 'SelectStmt') {
          if (!selectExpectations(s).has(err.kind)) mismatches.push(`SelectStmt refused as "${err.kind}", labels say ${[...selectExpectations(s)].join('/')}: ${where(s)}`);
        } else {
          const re = expectedKind(s);
          if (!re.test(err.kind)) mismatches.push(`${s.kind} refused as "${err.kind}" (${err.message}): ${where(s)}`);
          else if (!err.message.includes(`is ${/^[AEIOU]/.test(err.kind) ? 'an' : 'a'} ${err.kind}: only SELECT is allowed`)) mismatches.push(`${s.kind} message "${err.message}": ${where(s)}`);
        }
      } else if (err) {
        if (!err.kind.startsWith('function ')) mismatches.push(`read candidate refused as "${err.kind}" (${err.message}): ${where(s)}`);
        else deniedReads.set(err.kind, (deniedReads.get(err.kind) ?? 0) + 1);
      }
    }
    figures.statements = statements.length;
    figures.refused = refused;
    figures.accepted = accepted;
    figures.non_read = statements.filter((s) => !s.read_candidate).length;
    figures.read_candidates_denied = [...deniedReads.values()].reduce((a, b) => a + b, 0);
    console.log(`statements.jsonl: ${statements.length} checked, ${refused} refused, ${accepted} accepted; ${figures.non_read} non-read all refused by kind: ${mismatches.length === 0}`);
    console.log(`read candidates refused by the deny list: ${figures.read_candidates_denied} — ${[...deniedReads].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k.slice(9)} ${n}`).join(', ')}`);
    expect(mismatches.slice(0, 10), `${mismatches.length} mismatches`).toEqual([]);
  });

  it('refuses every side-effect SELECT by the function deny list', () => {
    const entries = readJsonl<SideEffect>('side_effect_selects.jsonl');
    expect(entries.length).toBeGreaterThan(300);
    const mismatches: string[] = [];
    for (const e of entries) {
      const err = check(e.sql);
      if (!err) mismatches.push(`accepted: ${where(e)}`);
      else if (!err.kind.startsWith('function ')) mismatches.push(`refused as "${err.kind}", not by the deny list: ${where(e)}`);
      for (const f of e.functions_matched) {
        const own = f.split('.').pop() ?? f;
        if (!deniedFunctionReason(own, 1) && !deniedFunctionReason(own, 2)) mismatches.push(`${f} is not on the deny list: ${where(e)}`);
      }
    }
    console.log(`side_effect_selects.jsonl: ${entries.length} checked, ${entries.length - mismatches.filter((m) => m.startsWith('accepted')).length} refused by the deny list`);
    expect(mismatches.slice(0, 10), `${mismatches.length} mismatches`).toEqual([]);
  });

  it('accepts the self-contained reads, refuses those the corpus marks as side effects', () => {
    const entries = readJsonl<SelfContained>('selfcontained_reads.jsonl');
    expect(entries.length).toBe(300);
    const mismatches: string[] = [];
    let accepted = 0;
    let refused = 0;
    const stricter: string[] = [];
    for (const e of entries) {
      const err = check(e.sql);
      const sideEffect = (e.side_effect_categories ?? []).length > 0;
      if (err) refused++;
      else accepted++;
      if (sideEffect && !err) mismatches.push(`side effect ${e.side_effect_categories!.join('/')} accepted: ${where(e)}`);
      if (sideEffect && err && !err.kind.startsWith('function ')) mismatches.push(`side effect refused as "${err.kind}": ${where(e)}`);
      if (!sideEffect && err) {
        if (STRICTER_THAN_CORPUS.has(err.kind)) stricter.push(`${err.kind.slice(9)}: ${where(e)}`);
        else mismatches.push(`plain read refused (${err.message}): ${where(e)}`);
      }
    }
    console.log(
      `selfcontained_reads.jsonl: ${entries.length} checked, ${accepted} accepted, ${refused} refused (${refused - stricter.length} marked side effects; ${stricter.length} run SQL given as text: ${stricter.join('; ')})`,
    );
    expect(stricter.length).toBeLessThan(5);
    expect(mismatches.slice(0, 10), `${mismatches.length} mismatches`).toEqual([]);
  });

  it('refuses every statement the parser rejects', () => {
    const entries = readJsonl<{ sql: string; file: string; line: number }>('parse_failures.jsonl');
    const accepted = entries.filter((e) => !check(e.sql));
    console.log(`parse_failures.jsonl: ${entries.length} checked, ${entries.length - accepted.length} refused`);
    expect(accepted.map(where).slice(0, 10)).toEqual([]);
  });

  it('prints the parse time per statement', () => {
    const sorted = [...timesUs].sort((a, b) => a - b);
    const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
    console.log(
      `guard check time over ${sorted.length} statements: p50 ${percentile(sorted, 50).toFixed(1)} µs, p99 ${percentile(sorted, 99).toFixed(1)} µs, max ${(sorted.at(-1) ?? 0).toFixed(0)} µs, mean ${mean.toFixed(1)} µs`,
    );
    expect(sorted.length).toBeGreaterThan(40_000);
  });
});
