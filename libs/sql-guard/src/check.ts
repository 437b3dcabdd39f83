import { loadModule, parseSync } from 'libpg-query';
import { deniedFunctionReason } from './deny-list.ts';
import { SqlRefusedError } from './errors.ts';
import { statementKindName, withArticle } from './statement-kinds.ts';

await loadModule();

type Node = Record<string, unknown>;

export interface ReadOnlyCheck {
  readonly statementKind: 'SELECT' | 'VALUES';
  /** the one statement's text, without surrounding blanks or the trailing `;` */
  readonly statement: string;
}

/** Longer texts are refused before parsing (1 MiB). */
export const MAX_SQL_BYTES = 1024 * 1024;

const LOCKING: Record<string, string> = {
  LCS_FORUPDATE: 'FOR UPDATE',
  LCS_FORNOKEYUPDATE: 'FOR NO KEY UPDATE',
  LCS_FORSHARE: 'FOR SHARE',
  LCS_FORKEYSHARE: 'FOR KEY SHARE',
};

const DML: Record<string, string> = { InsertStmt: 'INSERT', UpdateStmt: 'UPDATE', DeleteStmt: 'DELETE', MergeStmt: 'MERGE' };

/**
 * Checks with PostgreSQL's own parser (libpg_query, PG 18 grammar) that `sql`
 * is exactly one plain `SELECT` or `VALUES` (read-only CTEs allowed) that
 * takes no row locks, creates no table (`SELECT … INTO`), modifies nothing
 * through a `WITH` query at any depth and calls no function on the deny list
 * (see deny-list.ts) anywhere in the tree.
 *
 * @throws SqlRefusedError naming what was refused, e.g.
 *   "statement 1 is an INSERT: only SELECT is allowed".
 */
export function checkReadOnlySql(sql: string): ReadOnlyCheck {
  if (typeof sql !== 'string') throw new SqlRefusedError('empty', 'the query is empty: one SELECT is required');
  const size = Buffer.byteLength(sql, 'utf8');
  if (size > MAX_SQL_BYTES) throw new SqlRefusedError('too long', `the query is ${size} bytes: at most ${MAX_SQL_BYTES} are allowed`);
  let stmts: Array<{ stmt?: Node; stmt_location?: number; stmt_len?: number }>;
  try {
    stmts = sql.trim() === '' ? [] : ((parseSync(sql).stmts ?? []) as typeof stmts);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (/cannot be empty/i.test(msg)) stmts = [];
    else if (err instanceof RangeError || /memory exhausted|stack depth/i.test(msg)) throw new SqlRefusedError('too complex', 'the query is nested too deeply to check');
    else throw new SqlRefusedError('syntax error', `the query does not parse: ${msg}`);
  }
  if (stmts.length === 0) throw new SqlRefusedError('empty', 'the query is empty: one SELECT is required');
  if (stmts.length > 1) throw new SqlRefusedError('multiple statements', `${stmts.length} statements: only one is allowed`);

  const [entry] = stmts as [(typeof stmts)[number]];
  const [nodeType, body] = Object.entries(entry.stmt ?? {})[0] ?? ['unknown', {}];
  const node = body as Node;
  if (nodeType !== 'SelectStmt') {
    const kind = statementKindName(nodeType, node);
    throw new SqlRefusedError(kind, `statement 1 is ${withArticle(kind)}: only SELECT is allowed`);
  }

  const problem = findProblem(node);
  if (problem) throw new SqlRefusedError(problem.kind, problem.message);

  const isValues = Array.isArray(node.valuesLists) && node.valuesLists.length > 0;
  return { statementKind: isValues ? 'VALUES' : 'SELECT', statement: statementText(sql, entry.stmt_location, entry.stmt_len) };
}

interface Problem {
  readonly rank: number; // lower wins when a statement has several
  readonly kind: string;
  readonly message: string;
}

/**
 * Walks the whole tree (iteratively: a query nesting a thousand subqueries must
 * not overflow the stack) and returns the most serious problem found, the
 * earliest in the text among equals.
 */
function findProblem(root: Node): Problem | undefined {
  let best: (Problem & { at: number }) | undefined;
  const note = (p: Problem, at: unknown) => {
    const pos = typeof at === 'number' ? at : Number.MAX_SAFE_INTEGER;
    if (!best || p.rank < best.rank || (p.rank === best.rank && pos < best.at)) best = { ...p, at: pos };
  };
  const stack: Array<[unknown, string | undefined]> = [[root, undefined]];
  while (stack.length > 0) {
    const [value, cteName] = stack.pop()!;
    if (Array.isArray(value)) {
      for (const v of value) stack.push([v, cteName]);
      continue;
    }
    if (value === null || typeof value !== 'object') continue;
    for (const [key, child] of Object.entries(value as Node)) {
      if (key in DML) {
        const what = DML[key] as string;
        note(
          {
            rank: 0,
            kind: 'data-modifying CTE',
            message: `${cteName ? `WITH query "${cteName}"` : 'a nested statement'} is ${withArticle(what)}: data-modifying WITH queries are not allowed`,
          },
          undefined,
        );
      } else if (key === 'intoClause' && child) {
        note({ rank: 1, kind: 'SELECT INTO', message: 'SELECT … INTO creates a table: not allowed' }, undefined);
      } else if (key === 'LockingClause') {
        const clause = LOCKING[String((child as Node).strength)] ?? 'FOR UPDATE';
        note({ rank: 2, kind: clause, message: `SELECT … ${clause} locks rows: not allowed` }, undefined);
      } else if (key === 'FuncCall') {
        const fc = child as Node;
        const parts = ((fc.funcname as Node[] | undefined) ?? []).map((p) => String((p.String as Node | undefined)?.sval ?? ''));
        const own = parts[parts.length - 1] ?? '';
        const argCount = Array.isArray(fc.args) ? fc.args.length : 0;
        const reason = deniedFunctionReason(own, argCount);
        if (reason) note({ rank: 3, kind: `function ${own.toLowerCase()}`, message: `calls ${parts.join('.')}: not allowed (${reason})` }, fc.location);
      }
      if (key === 'CommonTableExpr') {
        const cte = child as Node;
        stack.push([cte.ctequery, String(cte.ctename ?? '')]);
        const { ctequery: _skip, ...rest } = cte;
        stack.push([rest, cteName]);
        continue;
      }
      stack.push([child, cteName]);
    }
  }
  if (!best) return undefined;
  const { at: _at, ...problem } = best;
  return problem;
}

/** The statement's own text; parser locations are UTF-8 byte offsets. */
function statementText(sql: string, location = 0, length = 0): string {
  const bytes = Buffer.from(sql, 'utf8');
  const end = length > 0 ? location + length : bytes.length;
  return bytes.subarray(location, end).toString('utf8').trim().replace(/;\s*$/, '').trim();
}
