// The provisioning SQL, in one place: `provision` runs these statements and
// `provision print-sql` prints them for a DBA. Names are validated
// (PG_ROLE_NAME, ServiceSchema) and still quoted: identifiers with
// escapeIdentifier, values with escapeLiteral, and format('%I') server-side
// where the name is only known there (current_database(), regclass).
import pg from 'pg';
import type { DatabaseService } from './services.ts';

/** One service's role as provisioning applies it. */
export interface RoleSpec extends DatabaseService {
  /** PostgreSQL role name (LOGIN), e.g. csda_vault. */
  readonly role: string;
}

const id = (name: string) => pg.escapeIdentifier(name);
const lit = (value: string) => pg.escapeLiteral(value);
/** A DO block; the tag cannot occur in validated names. */
const doBlock = (body: string) => `DO $csda$\n${body}\n$csda$`;

/** The key of the transaction-level advisory lock that serialises provisioning of one database. */
export const PROVISION_LOCK = 'csda.provision';

/** `('csda_vault', 'vault', false), …` — the only client-built part of the SQL (escaped literals). */
function roleValues(specs: readonly RoleSpec[]): string {
  return specs.map((s) => `(${lit(s.role)}, ${lit(s.schema)}, ${s.usesVector})`).join(',\n    ');
}

/**
 * Cluster-wide part (roles are shared by every database of the server):
 * each role created as a plain LOGIN role if missing, its attributes
 * corrected only when wrong, and a non-superuser admin made a member so it
 * can run CREATE SCHEMA AUTHORIZATION and ALTER … OWNER TO. Concurrent runs
 * are safe: a role created meanwhile by another run is caught (and the
 * runner retries what a race still breaks).
 */
export function roleStatements(specs: readonly RoleSpec[]): string[] {
  return [
    doBlock(
      [
        'DECLARE s record;',
        'BEGIN',
        '  FOR s IN SELECT * FROM (VALUES',
        `    ${roleValues(specs)}) AS v(role, schema, vector) LOOP`,
        '    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = s.role) THEN',
        '      BEGIN',
        `        EXECUTE format('CREATE ROLE %I ${ROLE_ATTRIBUTES}', s.role);`,
        '      EXCEPTION WHEN duplicate_object OR unique_violation THEN',
        '        NULL; -- created meanwhile by a concurrent provision',
        '      END;',
        '    ELSIF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = s.role',
        '        AND (NOT rolcanlogin OR rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls)) THEN',
        `      EXECUTE format('ALTER ROLE %I ${ROLE_ATTRIBUTES}', s.role);`,
        '    END IF;',
        '    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)',
        "        AND NOT pg_catalog.pg_has_role(current_user, s.role, 'MEMBER') THEN",
        "      EXECUTE format('GRANT %I TO %I', s.role, current_user);",
        '    END IF;',
        '  END LOOP;',
        'END',
      ].join('\n'),
    ),
  ];
}

const ROLE_ATTRIBUTES = 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';

/** Sets a role's password from a SCRAM verifier (see scram.ts), never the password itself. */
export function passwordStatement(role: string, verifier: string): string {
  return `ALTER ROLE ${id(role)} PASSWORD ${lit(verifier)}`;
}

/** `NOT EXISTS` a dependency making `alias` (a row of `catalog`) part of an extension. */
const notInExtension = (catalog: string, alias: string) =>
  `NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid = '${catalog}'::regclass AND d.objid = ${alias}.oid AND d.deptype = 'e')`;

/**
 * Per-database part, run in one transaction under PROVISION_LOCK: the
 * `vector` extension (created by the admin, so no service needs CREATE on
 * the database), no rights for PUBLIC on the database or on schema
 * `public`, and per service: CONNECT; its schema created, or taken over
 * with every object in it (tables, views, materialized views, foreign
 * tables — their indexes, triggers and owned sequences follow — free
 * sequences, routines, and enum/domain/range/composite types; extension
 * members stay), schema-scoped unlike REASSIGN OWNED; no USAGE for PUBLIC or
 * any other service role; nothing it creates later executable or usable by
 * PUBLIC; USAGE on the extension's schema for the services that need `vector`
 * (and that schema on their search_path in this database when it is not `public`).
 */
export function databaseStatements(specs: readonly RoleSpec[]): string[] {
  const statements: string[] = [];
  if (specs.some((s) => s.usesVector)) statements.push('CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public');
  statements.push(
    doBlock(
      [
        'DECLARE s record; r record; other text; ext text;',
        `  roles text[] := ARRAY[${specs.map((s) => lit(s.role)).join(', ')}];`,
        'BEGIN',
        "  EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());",
        '  REVOKE ALL ON SCHEMA public FROM PUBLIC;',
        '  FOR s IN SELECT * FROM (VALUES',
        `    ${roleValues(specs)}) AS v(role, schema, vector) LOOP`,
        "    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), s.role);",
        '    IF to_regnamespace(s.schema) IS NULL THEN',
        "      EXECUTE format('CREATE SCHEMA %I AUTHORIZATION %I', s.schema, s.role);",
        '    END IF;',
        "    EXECUTE format('ALTER SCHEMA %I OWNER TO %I', s.schema, s.role);",
        "    EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', s.schema);",
        '    FOREACH other IN ARRAY roles LOOP',
        "      IF other <> s.role THEN EXECUTE format('REVOKE ALL ON SCHEMA %I FROM %I', s.schema, other); END IF;",
        '    END LOOP;',
        '    FOR r IN SELECT c.oid::regclass AS name, c.relkind FROM pg_catalog.pg_class c',
        "        WHERE c.relnamespace = s.schema::regnamespace AND c.relowner <> s.role::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
        `        AND ${notInExtension('pg_class', 'c')} LOOP`,
        "      EXECUTE format(CASE r.relkind WHEN 'v' THEN 'ALTER VIEW %s OWNER TO %I' WHEN 'm' THEN 'ALTER MATERIALIZED VIEW %s OWNER TO %I'",
        "        WHEN 'f' THEN 'ALTER FOREIGN TABLE %s OWNER TO %I' ELSE 'ALTER TABLE %s OWNER TO %I' END, r.name, s.role);",
        '    END LOOP;',
        '    FOR r IN SELECT c.oid::regclass AS name FROM pg_catalog.pg_class c',
        "        WHERE c.relnamespace = s.schema::regnamespace AND c.relowner <> s.role::regrole AND c.relkind = 'S'",
        `        AND ${notInExtension('pg_class', 'c')} LOOP`,
        "      EXECUTE format('ALTER SEQUENCE %s OWNER TO %I', r.name, s.role);",
        '    END LOOP;',
        '    FOR r IN SELECT p.oid::regprocedure AS name FROM pg_catalog.pg_proc p',
        `        WHERE p.pronamespace = s.schema::regnamespace AND p.proowner <> s.role::regrole AND ${notInExtension('pg_proc', 'p')} LOOP`,
        "      EXECUTE format('ALTER ROUTINE %s OWNER TO %I', r.name, s.role);",
        '    END LOOP;',
        '    FOR r IN SELECT t.oid::regtype AS name, t.typtype FROM pg_catalog.pg_type t',
        "        WHERE t.typnamespace = s.schema::regnamespace AND t.typowner <> s.role::regrole AND t.typtype IN ('e', 'd', 'r', 'c')",
        "        AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c')",
        `        AND ${notInExtension('pg_type', 't')} LOOP`,
        "      EXECUTE format(CASE r.typtype WHEN 'd' THEN 'ALTER DOMAIN %s OWNER TO %I' ELSE 'ALTER TYPE %s OWNER TO %I' END, r.name, s.role);",
        '    END LOOP;',
        "    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC', s.role);",
        "    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE %I REVOKE USAGE ON TYPES FROM PUBLIC', s.role);",
        '    IF s.vector THEN',
        '      SELECT n.nspname INTO ext FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace',
        "        WHERE e.extname = 'vector';",
        "      EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', ext, s.role);",
        '      -- pgvector installed elsewhere (e.g. a schema `extensions`): its type must still resolve unqualified.',
        "      IF ext <> 'public' THEN",
        `        EXECUTE format('ALTER ROLE %I IN DATABASE %I SET search_path = "$user", public, %I', s.role, current_database(), ext);`,
        '      END IF;',
        '    END IF;',
        '  END LOOP;',
        'END',
      ].join('\n'),
    ),
  );
  return statements;
}

/**
 * The whole provisioning as one psql script, for a DBA who runs it instead
 * of the provisioning Job. Passwords are not part of it: the DBA sets them
 * with psql's \password (which sends only a SCRAM verifier).
 */
export function provisionScript(specs: readonly RoleSpec[]): string {
  const lines = [
    '-- CSDA: one PostgreSQL role per service, owning only its schema.',
    '-- Generated by `node libs/service-kit/src/provision/main.ts print-sql` from the',
    '-- statements `provision` runs. Idempotent: safe to run again after upgrades.',
    '-- Run connected to the CSDA database as a superuser (or its owner with CREATEROLE):',
    '--   psql "postgres://<admin>@<host>:5432/<database>" -v ON_ERROR_STOP=1 -f provision.sql',
    '-- then set each role\'s password and put it into that service\'s database Secret:',
    ...specs.map((s) => `--   \\password ${s.role}    -- ${s.service}: postgres://${s.role}:<password>@<host>:5432/<database>`),
    '',
    '-- Roles (cluster-wide).',
    ...roleStatements(specs).map((sql) => `${sql};`),
    '',
    '-- Schemas, ownership and grants (this database).',
    'BEGIN;',
    `SELECT pg_advisory_xact_lock(hashtext(${lit(PROVISION_LOCK)}));`,
    ...databaseStatements(specs).map((sql) => `${sql};`),
    'COMMIT;',
  ];
  return `${lines.join('\n')}\n`;
}
