/**
 * Functions a read-only SQL tool may not call, even though PostgreSQL lets
 * most of them run inside `BEGIN READ ONLY` (measured on PostgreSQL 15: advisory
 * locks outlive the rollback, `pg_notify`, `txid_current()` and `lo_create()`
 * all go through). Matched on the function's own name, lower-cased, whatever
 * schema it is qualified with and whether or not it was quoted: a user function
 * called `"PG_SLEEP"` or `myschema.pg_sleep` is refused too, which costs nothing
 * and removes any doubt about which function a name resolves to.
 *
 * What this cannot see: functions reached without a call in the text (a view's
 * or a user-defined function's body, operators, casts, column defaults). The
 * READ ONLY transaction, the timeouts and a read-only datasource role are the
 * layers behind it for those.
 */

interface DenyRule {
  /** why it is refused, shown in parentheses after "not allowed" */
  readonly reason: string;
  readonly names?: readonly string[];
  readonly prefixes?: readonly string[];
}

const RULES: readonly DenyRule[] = [
  { reason: 'takes an advisory lock', prefixes: ['pg_advisory_', 'pg_try_advisory_'] },
  { reason: 'changes session settings', names: ['set_config', 'setseed'] },
  { reason: 'sleeps', prefixes: ['pg_sleep'] },
  {
    reason: 'uses large objects',
    prefixes: ['lo_'],
    names: ['loread', 'lowrite', 'be_lo_open', 'be_lo_close', 'be_lo_creat', 'be_lo_create', 'be_lo_unlink'],
  },
  {
    reason: 'reads or writes server files',
    prefixes: ['pg_ls_', 'pg_file_'],
    names: ['pg_read_file', 'pg_read_binary_file', 'pg_stat_file', 'pg_logdir_ls', 'pg_import_system_collations'],
  },
  { reason: 'opens a connection to another database', prefixes: ['dblink'] },
  {
    reason: 'signals another server process',
    names: ['pg_terminate_backend', 'pg_cancel_backend', 'pg_signal_backend', 'pg_log_backend_memory_contexts'],
  },
  {
    reason: 'administers the server',
    prefixes: ['pg_wal_replay_', 'pg_replication_origin_', 'binary_upgrade_'],
    names: [
      'pg_reload_conf',
      'pg_rotate_logfile',
      'pg_switch_wal',
      'pg_switch_xlog',
      'pg_promote',
      'pg_create_restore_point',
      'pg_backup_start',
      'pg_backup_stop',
      'pg_start_backup',
      'pg_stop_backup',
      'pg_export_snapshot',
      'pg_log_standby_snapshot',
      'pg_prewarm',
      'pg_nextoid',
      'pg_stat_statements_reset',
    ],
  },
  {
    reason: 'uses replication slots',
    prefixes: ['pg_logical_', 'pg_create_logical_replication_slot', 'pg_create_physical_replication_slot', 'pg_copy_'],
    names: ['pg_drop_replication_slot', 'pg_replication_slot_advance', 'pg_sync_replication_slots'],
  },
  { reason: 'resets statistics', prefixes: ['pg_stat_reset'], names: ['pg_stat_force_next_flush', 'pg_stat_clear_snapshot'] },
  { reason: 'sends a notification', names: ['pg_notify'] },
  { reason: 'uses sequence state', names: ['nextval', 'setval', 'currval', 'lastval'] },
  { reason: 'assigns a transaction id', names: ['txid_current', 'pg_current_xact_id'] },
  {
    // Pure functions of their arguments for the most part, but they expose other
    // sessions' transaction state; the reference corpus labels them side effects.
    reason: 'reads transaction-id state',
    prefixes: ['txid_'],
    names: ['pg_xact_status', 'pg_current_snapshot', 'pg_current_xact_id_if_assigned', 'pg_xact_commit_timestamp', 'pg_last_committed_xact'],
  },
  {
    reason: 'runs SQL given as text',
    prefixes: ['query_to_xml', 'cursor_to_xml', 'table_to_xml', 'schema_to_xml', 'database_to_xml', 'crosstab'],
    names: ['ts_stat', 'connectby', 'xpath_table', 'query_to_xmlschema', 'cursor_to_xmlschema'],
  },
];

const BY_NAME = new Map<string, string>();
const PREFIXES: Array<readonly [string, string]> = [];
for (const rule of RULES) {
  for (const n of rule.names ?? []) BY_NAME.set(n, rule.reason);
  for (const p of rule.prefixes ?? []) PREFIXES.push([p, rule.reason]);
}

/**
 * The reason `name` (a function's own name, without schema) is refused, or
 * undefined when it may be called. `argCount` matters for `ts_rewrite`, whose
 * two-argument form runs a query given as text.
 */
export function deniedFunctionReason(name: string, argCount: number): string | undefined {
  const n = name.toLowerCase();
  const exact = BY_NAME.get(n);
  if (exact) return exact;
  for (const [prefix, reason] of PREFIXES) if (n.startsWith(prefix)) return reason;
  if (n === 'ts_rewrite' && argCount === 2) return 'runs SQL given as text';
  return undefined;
}

/** The deny list as data, for documentation and tests. */
export const DENY_RULES: readonly DenyRule[] = RULES;
