/**
 * A statement the read-only guard refused. `kind` names what was refused
 * (`'INSERT'`, `'multiple statements'`, `'FOR UPDATE'`, `'function pg_advisory_lock'`, …);
 * `message` is a plain sentence fit for an execution's `error.message`.
 */
export class SqlRefusedError extends Error {
  readonly code = 'SQL_REFUSED' as const;
  readonly kind: string;

  constructor(kind: string, message: string) {
    super(message);
    this.name = 'SqlRefusedError';
    this.kind = kind;
  }
}

export type SqlQueryErrorCode =
  /** the datasource could not be reached or refused the login */
  | 'SQL_CONNECT'
  /** the statement ran longer than the timeout */
  | 'SQL_TIMEOUT'
  /** the caller's signal aborted the query */
  | 'SQL_CANCELLED'
  /** the server refused or failed the statement (see `sqlstate`) */
  | 'SQL_FAILED';

/**
 * A query that passed the guard but failed at the database. The message is
 * the server's (or the driver's) text with the datasource URL and password
 * removed; `sqlstate` is the server's error code when there is one.
 */
export class SqlQueryError extends Error {
  readonly code: SqlQueryErrorCode;
  readonly sqlstate: string | undefined;

  constructor(code: SqlQueryErrorCode, message: string, sqlstate?: string) {
    super(message);
    this.name = 'SqlQueryError';
    this.code = code;
    this.sqlstate = sqlstate;
  }
}
