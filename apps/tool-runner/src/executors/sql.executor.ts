import type pg from 'pg';
import { runReadOnlyQuery, SqlQueryError, SqlRefusedError } from '@csda/sql-guard';
import { DatasourceRefusedError } from './datasource-guard.ts';
import { fillText } from '../tools/templates.ts';
import { DEFAULT_MAX_ROWS } from '../tools/tool.types.ts';
import { failed, type Executor } from './executor.types.ts';

export interface SqlExecutorDeps {
  /** Checks the datasource's address (TOOLS_SQL_ALLOW) and returns the connect function that dials the checked address. */
  readonly guard: (url: string) => Promise<(config: pg.ClientConfig) => pg.Client>;
  readonly run?: typeof runReadOnlyQuery;
}

/** A parameter template: a string is filled as text (one whole placeholder keeps the input's own type); other JSON as it is. */
function paramOf(template: unknown, input: Record<string, unknown>): unknown {
  if (typeof template !== 'string') return template;
  const whole = /^\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}$/.exec(template);
  if (whole) {
    const v = input[whole[1]!];
    return v === undefined ? null : typeof v === 'object' && v !== null ? JSON.stringify(v) : v;
  }
  return fillText(template, input);
}

/** sql_query: the guard, then one READ ONLY transaction through a cursor on the granted datasource. */
export function createSqlExecutor(deps: SqlExecutorDeps): Executor {
  const run = deps.run ?? runReadOnlyQuery;
  return async (req) => {
    const url = req.secrets.datasource;
    if (!url) return failed('SECRET_UNAVAILABLE', 'the datasource secret was not revealed for this tool');
    const config = req.tool.config;
    const params = ((config.params as unknown[] | undefined) ?? []).map((p) => paramOf(p, req.input as Record<string, unknown>));
    try {
      const connect = await deps.guard(url);
      const result = await run(url, String(config.query), params, {
        maxRows: Number(config.max_rows ?? DEFAULT_MAX_ROWS),
        timeoutMs: req.tool.timeoutS * 1_000,
        signal: req.signal,
        connect,
      });
      return {
        status: 'completed',
        output: { columns: result.columns, rows: result.rows, row_count: result.rowCount, truncated: result.truncated },
        stderr: '',
        error: null,
        truncated: result.truncated,
        exitCode: null,
        warnings: result.warnings,
      };
    } catch (err) {
      if (err instanceof SqlRefusedError) return failed('SQL_REFUSED', err.message);
      if (err instanceof SqlQueryError) {
        if (err.code === 'SQL_CANCELLED') return { ...failed('CANCELLED', 'cancelled while running'), status: 'cancelled' };
        if (err.code === 'SQL_TIMEOUT') return { ...failed('TIMED_OUT', `killed after ${req.tool.timeoutS} s`), status: 'timed_out' };
        return failed(err.code, err.message);
      }
      if (err instanceof DatasourceRefusedError) return failed('EGRESS_REFUSED', err.message);
      throw err;
    }
  };
}
