/**
 * Plain names for the parser's top-level statement nodes ("InsertStmt" →
 * "INSERT", a DropStmt of a table → "DROP TABLE"), used in refusal messages.
 */

type Node = Record<string, unknown>;

const FIXED: Record<string, string> = {
  InsertStmt: 'INSERT',
  UpdateStmt: 'UPDATE',
  DeleteStmt: 'DELETE',
  MergeStmt: 'MERGE',
  TruncateStmt: 'TRUNCATE',
  CallStmt: 'CALL',
  DoStmt: 'DO',
  CreateStmt: 'CREATE TABLE',
  IndexStmt: 'CREATE INDEX',
  ViewStmt: 'CREATE VIEW',
  RuleStmt: 'CREATE RULE',
  CreateSeqStmt: 'CREATE SEQUENCE',
  AlterSeqStmt: 'ALTER SEQUENCE',
  CreateTrigStmt: 'CREATE TRIGGER',
  CreateEventTrigStmt: 'CREATE EVENT TRIGGER',
  AlterEventTrigStmt: 'ALTER EVENT TRIGGER',
  CreatePLangStmt: 'CREATE LANGUAGE',
  CreateFdwStmt: 'CREATE FOREIGN DATA WRAPPER',
  AlterFdwStmt: 'ALTER FOREIGN DATA WRAPPER',
  CreateForeignServerStmt: 'CREATE SERVER',
  AlterForeignServerStmt: 'ALTER SERVER',
  CreateOpClassStmt: 'CREATE OPERATOR CLASS',
  CreateOpFamilyStmt: 'CREATE OPERATOR FAMILY',
  AlterOpFamilyStmt: 'ALTER OPERATOR FAMILY',
  AlterTSConfigurationStmt: 'ALTER TEXT SEARCH CONFIGURATION',
  AlterTSDictionaryStmt: 'ALTER TEXT SEARCH DICTIONARY',
  CreateAmStmt: 'CREATE ACCESS METHOD',
  CreateStatsStmt: 'CREATE STATISTICS',
  AlterStatsStmt: 'ALTER STATISTICS',
  CreatedbStmt: 'CREATE DATABASE',
  DropdbStmt: 'DROP DATABASE',
  AlterDatabaseSetStmt: 'ALTER DATABASE … SET',
  AlterRoleSetStmt: 'ALTER ROLE … SET',
  DeclareCursorStmt: 'DECLARE CURSOR',
  ClosePortalStmt: 'CLOSE',
  PrepareStmt: 'PREPARE',
  ExecuteStmt: 'EXECUTE',
  DeallocateStmt: 'DEALLOCATE',
  VariableShowStmt: 'SHOW',
  NotifyStmt: 'NOTIFY',
  ListenStmt: 'LISTEN',
  UnlistenStmt: 'UNLISTEN',
  LockStmt: 'LOCK',
  CommentStmt: 'COMMENT',
  SecLabelStmt: 'SECURITY LABEL',
  RenameStmt: 'ALTER … RENAME',
  AlterObjectSchemaStmt: 'ALTER … SET SCHEMA',
  AlterOwnerStmt: 'ALTER … OWNER TO',
  AlterTableMoveAllStmt: 'ALTER … SET TABLESPACE',
  DropOwnedStmt: 'DROP OWNED',
  ReassignOwnedStmt: 'REASSIGN OWNED',
  CheckPointStmt: 'CHECKPOINT',
  DiscardStmt: 'DISCARD',
  LoadStmt: 'LOAD',
  ReindexStmt: 'REINDEX',
  ClusterStmt: 'CLUSTER',
  RefreshMatViewStmt: 'REFRESH MATERIALIZED VIEW',
  ConstraintsSetStmt: 'SET CONSTRAINTS',
  AlterSystemStmt: 'ALTER SYSTEM',
  AlterDefaultPrivilegesStmt: 'ALTER DEFAULT PRIVILEGES',
  ImportForeignSchemaStmt: 'IMPORT FOREIGN SCHEMA',
  CreateSchemaStmt: 'CREATE SCHEMA',
  CreateConversionStmt: 'CREATE CONVERSION',
  CreateCastStmt: 'CREATE CAST',
  CreateTransformStmt: 'CREATE TRANSFORM',
  CreateUserMappingStmt: 'CREATE USER MAPPING',
  AlterUserMappingStmt: 'ALTER USER MAPPING',
  DropUserMappingStmt: 'DROP USER MAPPING',
  CreateTableSpaceStmt: 'CREATE TABLESPACE',
  DropTableSpaceStmt: 'DROP TABLESPACE',
  AlterTableSpaceOptionsStmt: 'ALTER TABLESPACE',
  CreateEnumStmt: 'CREATE TYPE … AS ENUM',
  CreateRangeStmt: 'CREATE TYPE … AS RANGE',
  CompositeTypeStmt: 'CREATE TYPE',
  AlterEnumStmt: 'ALTER TYPE',
  AlterTypeStmt: 'ALTER TYPE',
  CreateDomainStmt: 'CREATE DOMAIN',
  AlterDomainStmt: 'ALTER DOMAIN',
  CreatePolicyStmt: 'CREATE POLICY',
  AlterPolicyStmt: 'ALTER POLICY',
  CreatePublicationStmt: 'CREATE PUBLICATION',
  AlterPublicationStmt: 'ALTER PUBLICATION',
  CreateSubscriptionStmt: 'CREATE SUBSCRIPTION',
  AlterSubscriptionStmt: 'ALTER SUBSCRIPTION',
  DropSubscriptionStmt: 'DROP SUBSCRIPTION',
  CreateRoleStmt: 'CREATE ROLE',
  AlterRoleStmt: 'ALTER ROLE',
  DropRoleStmt: 'DROP ROLE',
  AlterFunctionStmt: 'ALTER FUNCTION',
  AlterOperatorStmt: 'ALTER OPERATOR',
  AlterCollationStmt: 'ALTER COLLATION',
  AlterExtensionStmt: 'ALTER EXTENSION',
  AlterExtensionContentsStmt: 'ALTER EXTENSION',
  CreateExtensionStmt: 'CREATE EXTENSION',
  CreateForeignTableStmt: 'CREATE FOREIGN TABLE',
  AlterDatabaseStmt: 'ALTER DATABASE',
  AlterDatabaseRefreshCollStmt: 'ALTER DATABASE … REFRESH COLLATION VERSION',
};

const TRANSACTION: Record<string, string> = {
  TRANS_STMT_BEGIN: 'BEGIN',
  TRANS_STMT_START: 'START TRANSACTION',
  TRANS_STMT_COMMIT: 'COMMIT',
  TRANS_STMT_ROLLBACK: 'ROLLBACK',
  TRANS_STMT_SAVEPOINT: 'SAVEPOINT',
  TRANS_STMT_RELEASE: 'RELEASE SAVEPOINT',
  TRANS_STMT_ROLLBACK_TO: 'ROLLBACK TO SAVEPOINT',
  TRANS_STMT_PREPARE: 'PREPARE TRANSACTION',
  TRANS_STMT_COMMIT_PREPARED: 'COMMIT PREPARED',
  TRANS_STMT_ROLLBACK_PREPARED: 'ROLLBACK PREPARED',
};

const OBJECT_WORDS: Record<string, string> = {
  MATVIEW: 'MATERIALIZED VIEW',
  TSCONFIGURATION: 'TEXT SEARCH CONFIGURATION',
  TSDICTIONARY: 'TEXT SEARCH DICTIONARY',
  TSPARSER: 'TEXT SEARCH PARSER',
  TSTEMPLATE: 'TEXT SEARCH TEMPLATE',
  OPCLASS: 'OPERATOR CLASS',
  OPFAMILY: 'OPERATOR FAMILY',
  FDW: 'FOREIGN DATA WRAPPER',
  FOREIGN_SERVER: 'SERVER',
  EVENT_TRIGGER: 'EVENT TRIGGER',
  ACCESS_METHOD: 'ACCESS METHOD',
  STATISTIC_EXT: 'STATISTICS',
  TABCONSTRAINT: 'CONSTRAINT',
  DOMCONSTRAINT: 'CONSTRAINT',
  USER_MAPPING: 'USER MAPPING',
  PUBLICATION_NAMESPACE: 'PUBLICATION',
  PUBLICATION_REL: 'PUBLICATION',
};

function objectWord(objtype: unknown): string | undefined {
  if (typeof objtype !== 'string' || !objtype.startsWith('OBJECT_')) return undefined;
  const raw = objtype.slice('OBJECT_'.length);
  return OBJECT_WORDS[raw] ?? raw.replace(/_/g, ' ');
}

function hasOption(options: unknown, name: string): boolean {
  if (!Array.isArray(options)) return false;
  return options.some((o: Node) => {
    const d = o?.DefElem as Node | undefined;
    if (!d || d.defname !== name) return false;
    const arg = d.arg as Node | undefined;
    if (!arg) return true; // `EXPLAIN ANALYZE`, `EXPLAIN (ANALYZE)`
    const str = (arg.String as Node | undefined)?.sval;
    if (typeof str === 'string') return !['false', 'off', 'no', '0'].includes(str.toLowerCase());
    const int = arg.Integer as Node | undefined;
    if (int) return Boolean(int.ival);
    const bool = arg.Boolean as Node | undefined;
    if (bool) return Boolean(bool.boolval);
    return true;
  });
}

/** The plain name of a top-level statement: `nodeType` is the AST key, `node` its body. */
export function statementKindName(nodeType: string, node: Node): string {
  switch (nodeType) {
    case 'SelectStmt':
      return 'SELECT';
    case 'TransactionStmt':
      return TRANSACTION[String(node.kind)] ?? 'transaction control';
    case 'VariableSetStmt': {
      if (node.kind === 'VAR_RESET' || node.kind === 'VAR_RESET_ALL') return 'RESET';
      const name = String(node.name ?? '').toLowerCase();
      if (name === 'role') return 'SET ROLE';
      if (name === 'session_authorization') return 'SET SESSION AUTHORIZATION';
      return 'SET';
    }
    case 'ExplainStmt':
      return hasOption(node.options, 'analyze') ? 'EXPLAIN ANALYZE' : 'EXPLAIN';
    case 'CopyStmt':
      return `COPY ${node.is_from ? 'FROM' : 'TO'}${node.is_program ? ' PROGRAM' : ''}`;
    case 'FetchStmt':
      return node.ismove ? 'MOVE' : 'FETCH';
    case 'VacuumStmt':
      return node.is_vacuumcmd ? 'VACUUM' : 'ANALYZE';
    case 'GrantStmt':
      return node.is_grant ? 'GRANT' : 'REVOKE';
    case 'GrantRoleStmt':
      return node.is_grant ? 'GRANT (role)' : 'REVOKE (role)';
    case 'CreateTableAsStmt':
      return node.objtype === 'OBJECT_MATVIEW' ? 'CREATE MATERIALIZED VIEW' : 'CREATE TABLE AS';
    case 'CreateFunctionStmt':
      return node.is_procedure ? 'CREATE PROCEDURE' : 'CREATE FUNCTION';
    case 'DropStmt': {
      const w = objectWord(node.removeType);
      return w ? `DROP ${w}` : 'DROP';
    }
    case 'DefineStmt': {
      const w = objectWord(node.kind);
      return w ? `CREATE ${w}` : 'CREATE';
    }
    case 'AlterTableStmt': {
      const w = objectWord(node.objtype);
      return w ? `ALTER ${w}` : 'ALTER TABLE';
    }
  }
  const fixed = FIXED[nodeType];
  if (fixed) return fixed;
  // Fallback for node types added by a newer grammar: "CreateFooBarStmt" → "CREATE FOO BAR"
  return nodeType
    .replace(/Stmt$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase();
}

/** "a DELETE", "an INSERT" */
export function withArticle(kind: string): string {
  return `${/^[AEIOU]/.test(kind) ? 'an' : 'a'} ${kind}`;
}
