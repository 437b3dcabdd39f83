export { checkReadOnlySql, type ReadOnlyCheck } from './check.ts';
export { DENY_RULES, deniedFunctionReason } from './deny-list.ts';
export { SqlQueryError, SqlRefusedError, type SqlQueryErrorCode } from './errors.ts';
export { runReadOnlyQuery, type ReadOnlyQueryOptions, type ReadOnlyQueryResult } from './runner.ts';
